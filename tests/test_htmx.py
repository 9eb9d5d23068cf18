"""Pages answer an htmx swap with their partial and everything else with the whole page: a
history-restore request (Back, with htmx's cache empty) gets the whole page, and responses vary on
HX-Request so no cache serves one for the other."""

from django.urls import reverse


def test_a_swap_gets_the_partial_and_a_history_restore_gets_the_whole_page(labeler_client, project):
    url = reverse("labeling:label", args=[project.slug])
    page = labeler_client.get(url)
    swap = labeler_client.get(url, HTTP_HX_REQUEST="true")
    restore = labeler_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in page.content.decode()
    assert "<html" not in swap.content.decode()
    assert "<html" in restore.content.decode()
    for response in (page, swap, restore):
        assert "HX-Request" in response["Vary"]
