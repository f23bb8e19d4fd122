"""A case as one viewer may see it: the single place HTML, API and exports get case data from."""

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


def case_for_viewer(case: Case, *, viewer: User, detail: bool = False) -> dict[str, Any]:
    """Public fields as stored, masked fields through the masking policy; contacts and documents on detail."""
    visible = masking.viewer_sees_sensitive(viewer, case)
    data: dict[str, Any] = {name: getattr(case, name) for name in PUBLIC_CASE_FIELDS}
    data["stage_display"] = case.get_stage_display()
    data["property_type_display"] = case.get_property_type_display()
    data["is_claimed"] = case.is_claimed
    data["is_mine"] = case.assigned_to_id is not None and case.assigned_to_id == viewer.pk
    data["is_claimable"] = case.is_claimable
    contacts = list(case.contacts.all()) if detail else None
    data.update(masking.present_case(case, visible=visible, contacts=contacts))
    if detail:
        secrets = masking.sensitive_values(case, contacts or [])
        data["documents"] = [
            {
                "id": doc.pk,
                "kind": doc.kind,
                "kind_display": doc.get_kind_display(),
                "title": masking.present_document_title(
                    doc.title, kind_label=doc.get_kind_display(), visible=visible, secrets=secrets
                ),
                "page_count": doc.page_count,
                "size_bytes": doc.size_bytes,
                "locked": not visible,
            }
            for doc in case.documents.all()
        ]
    return data
