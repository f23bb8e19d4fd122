"""A case as one viewer may see it: the single place HTML, API and exports get case data from."""

from collections.abc import Iterable, Mapping
from typing import Any

from accounts.models import User
from cases import masking
from cases.models import Case

PUBLIC_CASE_FIELDS = (
    "id",
    "state",
    "county",
    "city",
    "zip_code",
    "filing_date",
    "stage",
    "auction_date",
    "property_type",
    "estimated_value_cents",
    "amount_owed_cents",
    "currency",
    "score",
    "status",
)
# Django rebuilds the choices dict on every get_FOO_display() call; list pages render thousands of labels.
STAGE_LABELS = dict(Case.Stage.choices)
PROPERTY_TYPE_LABELS = dict(Case.PropertyType.choices)
DOCUMENT_KIND_LABELS = dict(Case._meta.get_field("documents").related_model.Kind.choices)


def claimable_now(owner_id: int | None, status: str, stage: str) -> bool:
    """Whether the viewer could claim the case now: Case.is_claimable, and nobody holds it."""
    return owner_id is None and Case.takes_claims(status, stage)


def case_for_viewer(case: Case | Mapping[str, Any], *, viewer: User, detail: bool = False) -> dict[str, Any]:
    """Public fields as stored, masked fields through the masking policy; contacts and documents on detail.

    `case` is a model instance, or on list pages a `.values(*selectors.LIST_FIELDS)` row (no model objects).
    """
    get = masking.field_of
    visible = masking.viewer_sees_sensitive(viewer, case)
    owner_id = get(case, "assigned_to_id")
    data: dict[str, Any] = {name: get(case, name) for name in PUBLIC_CASE_FIELDS}
    data["stage_display"] = STAGE_LABELS.get(data["stage"], data["stage"])
    data["property_type_display"] = PROPERTY_TYPE_LABELS.get(data["property_type"], data["property_type"])
    data["is_claimed"] = owner_id is not None
    data["is_mine"] = owner_id is not None and owner_id == viewer.pk
    data["is_claimable"] = claimable_now(owner_id, data["status"], data["stage"])
    contacts = list(case.contacts.all()) if detail else None
    # Narrower than `visible` for support staff: document titles and files name the same people as the contacts.
    contacts_visible = masking.viewer_sees_contacts(viewer, case) if detail else visible
    data.update(masking.present_case(case, visible=visible, contacts=contacts, contacts_visible=contacts_visible))
    if detail:
        secrets = masking.sensitive_values(case, contacts or [])
        data["documents"] = [
            {
                "id": doc.pk,
                "kind": doc.kind,
                "kind_display": DOCUMENT_KIND_LABELS.get(doc.kind, doc.kind),
                "title": masking.present_document_title(
                    doc.title,
                    kind_label=DOCUMENT_KIND_LABELS.get(doc.kind, doc.kind),
                    visible=contacts_visible,
                    secrets=secrets,
                ),
                "page_count": doc.page_count,
                "size_bytes": doc.size_bytes,
                "locked": not contacts_visible,
            }
            for doc in case.documents.all()
        ]
    return data


def cases_for_viewer(rows: Iterable[Mapping[str, Any]], *, viewer: User) -> list[dict[str, Any]]:
    """`case_for_viewer` for a list page of `.values(*selectors.LIST_FIELDS)` rows, the same dicts in one pass: the
    viewer's side of the masking decision is made once, each row adds its owner (a test holds the two equal)."""
    sees = masking.sensitive_visibility(viewer)
    viewer_id = viewer.pk
    masked = tuple(masking.MASKED_CASE_FIELDS)  # the order present_case writes them in
    out = []
    for row in rows:
        owner_id = row["assigned_to_id"]
        data = {name: row[name] for name in PUBLIC_CASE_FIELDS}
        stage, property_type = data["stage"], data["property_type"]
        data["stage_display"] = STAGE_LABELS.get(stage, stage)
        data["property_type_display"] = PROPERTY_TYPE_LABELS.get(property_type, property_type)
        data["is_claimed"] = owner_id is not None
        data["is_mine"] = owner_id is not None and owner_id == viewer_id
        data["is_claimable"] = claimable_now(owner_id, data["status"], stage)
        visible = sees(owner_id)
        for name in masked:
            data[name] = row[name] if visible else None
        data["is_masked"] = not visible
        out.append(data)
    return out


def dollars(cents: int | None) -> str:
    """An estimate in whole dollars for list pages ("$1,234"; "—" when unknown or zero), rounded as the template's
    widthratio did (half to even)."""
    if not cents:
        return "—"
    return f"${round(cents / 100):,}"
