"""What the case list's filter form shows back when a filter in the address is refused or invalid."""

import re

import pytest

from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _errors(body: str) -> list[str]:
    block = re.search(r'<div id="filter-errors"[^>]*>(.*?)</div></div>', body, re.S)
    assert block, "no error block on the page"
    return re.findall(r"<p>(.*?)</p>", block.group(1), re.S)


def _control(body: str, name: str) -> str:
    match = re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', body)
    assert match, f"no control named {name}"
    return match.group(0)


def test_sorting_by_a_masked_field_is_one_error_not_two(client, subscriber):
    CaseFactory()
    client.force_login(subscriber)
    response = client.get("/cases/?sort=street")
    assert response.status_code == 400
    errors = _errors(response.content.decode())
    assert errors == ["Filtering, searching or sorting by street is only available to the case&#x27;s owner."]


def test_a_masked_sort_with_another_bad_filter_still_shows_the_other(client, subscriber):
    client.force_login(subscriber)
    body = client.get("/cases/?sort=-street&score_min=abc").content.decode()
    errors = _errors(body)
    assert len(errors) == 2
    assert "sorting by street" in errors[0]
    assert errors[1] == "Score from: Enter a whole number."


def test_staff_get_the_invalid_choice_error_for_a_sort_that_does_not_exist(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/cases/?sort=street")
    assert response.status_code == 400
    [error] = _errors(response.content.decode())
    assert error.startswith("Sort: Select a valid choice. street")


@pytest.mark.parametrize(
    ("query", "name", "shown"),
    [
        ("stage=sold_yesterday", "stage", "sold_yesterday (not an option)"),
        ("claimed=everything", "claimed", "everything (not an option)"),
        ("sort=-price", "sort", "-price (not an option)"),
    ],
)
def test_a_rejected_choice_stays_selected_and_marked(client, subscriber, query, name, shown):
    client.force_login(subscriber)
    response = client.get(f"/cases/?{query}")
    assert response.status_code == 400
    body = response.content.decode()
    value = query.split("=", 1)[1]
    assert re.search(rf'<option value="{re.escape(value)}" selected>{re.escape(shown)}</option>', body)
    assert 'aria-invalid="true"' in _control(body, name)
    select = re.search(rf'<select name="{name}".*?</select>', body, re.S).group(0)
    assert select.count(" selected>") == 1  # the rejected value, not the first option as well


@pytest.mark.parametrize(
    ("query", "name", "value"),
    [("score_min=abc", "score_min", "abc"), ("auction_from=2026-13-45", "auction_from", "2026-13-45")],
)
def test_an_unparsable_number_or_date_is_shown_back_as_typed(client, subscriber, query, name, value):
    client.force_login(subscriber)
    body = client.get(f"/cases/?{query}").content.decode()
    control = _control(body, name)
    # A browser blanks a number or date input holding text it cannot parse; as text it keeps what was rejected.
    assert 'type="text"' in control and f'value="{value}"' in control and 'aria-invalid="true"' in control


def test_valid_and_out_of_range_values_keep_their_input_types(client, subscriber):
    client.force_login(subscriber)
    body = client.get("/cases/?score_min=150&auction_from=2026-12-01").content.decode()
    score = _control(body, "score_min")
    assert 'type="number"' in score and 'value="150"' in score and 'aria-invalid="true"' in score
    auction = _control(body, "auction_from")
    assert 'type="date"' in auction and "aria-invalid" not in auction


def test_valid_filters_render_plain_controls(client, subscriber):
    CaseFactory(state="TX", score=70)
    client.force_login(subscriber)
    response = client.get("/cases/?stage=auction_scheduled&score_min=10&sort=score")
    assert response.status_code == 200
    body = response.content.decode()
    assert "not an option" not in body and "aria-invalid" not in body
    assert 'type="number"' in _control(body, "score_min")
