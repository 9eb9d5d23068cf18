"""Account pages that are not Django's own: the first-run page, which makes the first account
when Concord has none, and a password reset that also lifts a login lockout."""

from axes.utils import reset as axes_reset
from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from core.services import FirstRunClosed, first_manager_create
from core.sessions import LOGIN_BACKEND


class FirstRunForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="Password resets are sent here.")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password again")


@never_cache
@require_http_methods(["GET", "POST"])
def first_run(request):
    """Only while no account exists; afterwards it is not found."""
    if get_user_model().objects.exists():
        raise Http404("Concord already has accounts.")
    form = FirstRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = first_manager_create(**form.cleaned_data)
        except FirstRunClosed:
            raise Http404("Concord already has accounts.") from None
        except ApplicationError as exc:
            for field, errors in exc.extra.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            login(request, user, backend=LOGIN_BACKEND)
            return redirect("projects:create")
    return render(request, "registration/first_run.html", {"form": form}, status=400 if form.errors else 200)


class LoginView(auth_views.LoginView):
    """The login page; with no account at all, it points the visitor to the first-run page."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["first_run"] = not get_user_model().objects.exists()
        return context


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Setting a new password from the emailed link also lifts the lockout of the account (the
    person proved they hold its mailbox): its failed attempts are forgotten, from any address."""

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        return response
