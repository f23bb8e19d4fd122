"""Driving the admin's widgets in a real browser."""

from collections.abc import Callable


def csp_violations(page) -> Callable[[], list[str]]:
    """Collect what the browser refused under the Content Security Policy from now on (call the result to read)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return lambda: list(seen)


def choose_in_autocomplete(page, *, name: str, term: str, option: str) -> None:
    """Open the search-as-you-type choice (Django admin's autocomplete, select2) of the <select name=…>, type the
    term, and pick the result whose text contains `option`."""
    page.locator(f"select[name={name}] + .select2-container .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(term)
    page.locator(".select2-container--open .select2-results__option", has_text=option).click()
    page.locator(f"select[name={name}] + .select2-container .select2-selection__rendered", has_text=option).wait_for()
