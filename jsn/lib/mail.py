"""JSN's own e-mails (claim notices, expiry warnings, payment failures, lead sheets) share one shape: the subject
carries settings.EMAIL_SUBJECT_PREFIX (the same prefix allauth's account e-mails carry), the body opens with a
greeting and closes with a signature, so every message says who it is from before the reader opens it."""

from django.conf import settings
from django.core.mail import send_mail

SIGNATURE = "— JSN"


def mail_subject(text: str) -> str:
    return f"{settings.EMAIL_SUBJECT_PREFIX}{text}"


def mail_body(*paragraphs: str) -> str:
    """Plain text: the greeting, the paragraphs (empty ones skipped) one blank line apart, the signature."""
    return "\n\n".join(["Hello,", *(p.strip("\n") for p in paragraphs if p), SIGNATURE]) + "\n"


def send_notice(*, to: str, subject: str, paragraphs: list[str]) -> None:
    """One plain-text e-mail to one person, through the configured backend (errors propagate to the caller,
    which decides whether to retry)."""
    send_mail(mail_subject(subject), mail_body(*paragraphs), None, [to])
