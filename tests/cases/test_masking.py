"""The masking policy (cases/masking.py) — pure, so tested without the database."""

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from cases import masking


def _contact(**kw):
    base = {"pk": 1, "relation": "owner", "name": "Jane Roe", "phones": [], "emails": [], "mailing_address": ""}
    return SimpleNamespace(**(base | kw))


def _case(**kw):
    base = {
        "pk": 7,
        "assigned_to_id": None,
        "case_number": "2026-CA-001",
        "street": "1 Main St",
        "parcel_number": "P-9",
    }
    return SimpleNamespace(**(base | kw))


def _viewer(pk, staff=False, active=True):
    return SimpleNamespace(pk=pk, is_staff=staff, is_active=active)


def test_owner_and_staff_see_everything_others_do_not():
    case = _case(assigned_to_id=5)
    assert masking.viewer_sees_sensitive(_viewer(5), case)
    assert masking.viewer_sees_sensitive(_viewer(9, staff=True), case)
    assert not masking.viewer_sees_sensitive(_viewer(6), case)
    assert not masking.viewer_sees_sensitive(_viewer(5, active=False), case)
    assert not masking.viewer_sees_sensitive(None, case)
    assert not masking.viewer_sees_sensitive(_viewer(None), _case(assigned_to_id=None))


def test_masked_case_reveals_only_presence():
    contacts = [_contact(phones=["555-1", "555-2"], emails=["a@x.test"]), _contact(pk=2, phones=["555-3"])]
    data = masking.present_case(_case(), visible=False, contacts=contacts)
    assert data["case_number"] is None and data["street"] is None and data["parcel_number"] is None
    assert data["contacts"] == []
    assert data["contact_summary"].text == "2 contacts, 3 phones, 1 e-mail on file"
    assert data["is_masked"] is True


def test_owner_presentation_has_the_values():
    data = masking.present_case(_case(), visible=True, contacts=[_contact(phones=["555-1"])])
    assert data["street"] == "1 Main St"
    assert data["contacts"][0]["name"] == "Jane Roe"
    assert data["contacts"][0]["phones"] == ["555-1"]


def test_document_title_is_only_the_kind_for_non_owners():
    secrets = masking.sensitive_values(_case(), [_contact(name="Jane Roe")])
    for title in ("Lis pendens — ROE, JANE", "Notice 2026CA001", "Recorded deed", "123 Main Street deed"):
        assert (
            masking.present_document_title(title, kind_label="Lis pendens", visible=False, secrets=secrets)
            == "Lis pendens"
        )
    assert (
        masking.present_document_title("Lis pendens — Jane Roe", kind_label="X", visible=True, secrets=secrets)
        == "Lis pendens — Jane Roe"
    )


def test_refused_query_keys_cover_filters_lookups_and_ordering():
    assert masking.refused_query_keys(["state", "case_number__icontains", "street"]) == ["case_number", "street"]
    assert masking.refused_query_keys(["sort"], ["-parcel_number"]) == ["parcel_number"]
    assert masking.refused_query_keys(["state", "score_min"], ["-score"]) == []


@given(st.text(min_size=3, max_size=40).filter(lambda s: sum(ch.isalnum() for ch in s) >= 3))
def test_any_secret_embedded_in_a_title_is_detected(secret):
    assert masking.text_reveals(f"Document about {secret} filed", [secret])
