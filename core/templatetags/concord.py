"""Template filters shared by every app."""

from django import template

from core.jobs.selectors import job_status
from core.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    return render_markdown(text)


@register.filter(name="job_status")
def job_status_filter(job):
    """A background job's state as pages show it (core.jobs.selectors.job_status)."""
    return job_status(job)
