"""The masking policy: what a viewer who does not own a case may see of it. Pure: no ORM, no I/O.

Every output (API serializers, HTML templates, CSV, e-mail) renders a case through `present_case`, so
the rule lives in one place. A masked value is replaced by None; only its presence is told
("3 phones on file").
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Case fields a non-owner never sees. City, county, state and ZIP stay visible.
MASKED_CASE_FIELDS: frozenset[str] = frozenset({"case_number", "street", "parcel_number"})
# Contact fields a non-owner never sees (the whole skip trace).
MASKED_CONTACT_FIELDS: frozenset[str] = frozenset({"name", "phones", "emails", "mailing_address"})
# Query parameter names that would filter, search or order by a masked value.
MASKED_QUERY_KEYS: frozenset[str] = MASKED_CASE_FIELDS | {
    "address",
    "owner",
    "owner_name",
    "contact",
    "contact_name",
    "name",
    "phone",
    "phones",
    "email",
    "emails",
    "mailing_address",
    "q",
    "search",
    "parcel",
}

MASKED_FIELD_REFUSED = "Filtering, searching or sorting by {field} is only available to the case's owner."
HIDDEN_LABEL = "Hidden until claimed"


class CaseLike(Protocol):
    pk: int
    assigned_to_id: int | None


class ViewerLike(Protocol):
    pk: int | None
    is_staff: bool
    is_active: bool


def field_of(case: Any, name: str) -> Any:
    """A case's field, whether the case is a model instance or a `.values()` row."""
    return case[name] if isinstance(case, Mapping) else getattr(case, name)


def viewer_sees_sensitive(viewer: ViewerLike | None, case: CaseLike | Mapping[str, Any]) -> bool:
    """Owners (the active claim's user) and active staff see everything; everyone else sees masks."""
    return sensitive_visibility(viewer)(field_of(case, "assigned_to_id"))


def sensitive_visibility(viewer: ViewerLike | None) -> Callable[[int | None], bool]:
    """viewer_sees_sensitive for many cases: the viewer's side decided once; the answer for a case's owner id."""
    if viewer is None or viewer.pk is None or not viewer.is_active:
        return lambda owner_id: False
    if viewer.is_staff:
        return lambda owner_id: True
    viewer_id = viewer.pk
    return lambda owner_id: owner_id is not None and owner_id == viewer_id


def viewer_sees_contacts(viewer: ViewerLike | None, case: CaseLike | Mapping[str, Any]) -> bool:
    """Contacts (the skip trace), document titles and files: like the masked case fields, except that staff in the
    support role see them only with the contact-data permission (`User.contact_data_withheld`), even on a case
    they hold themselves."""
    if not viewer_sees_sensitive(viewer, case):
        return False
    return not getattr(viewer, "contact_data_withheld", False)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


@dataclass(frozen=True)
class ContactSummary:
    contacts: int
    phones: int
    emails: int
    mailing_addresses: int

    @property
    def text(self) -> str:
        if not self.contacts:
            return "No contacts on file"
        parts = [plural(self.contacts, "contact"), plural(self.phones, "phone"), plural(self.emails, "e-mail")]
        return ", ".join(parts) + " on file"


def summarise_contacts(contacts: Iterable[Any]) -> ContactSummary:
    contacts = list(contacts)
    return ContactSummary(
        contacts=len(contacts),
        phones=sum(len(c.phones or []) for c in contacts),
        emails=sum(len(c.emails or []) for c in contacts),
        mailing_addresses=sum(1 for c in contacts if c.mailing_address),
    )


def sensitive_values(case: Any, contacts: Sequence[Any]) -> list[str]:
    """Every masked value of a case, for checking free text (document titles) that may repeat one."""
    values = [field_of(case, field) for field in sorted(MASKED_CASE_FIELDS)]
    for contact in contacts:
        values.append(contact.name)
        values.extend(contact.phones or [])
        values.extend(contact.emails or [])
        values.append(contact.mailing_address)
    return [str(v).strip() for v in values if v and len(str(v).strip()) >= 3]


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def text_reveals(text: str, secrets: Iterable[str]) -> bool:
    """True when text contains any secret, compared ignoring case, spaces and punctuation."""
    haystack = _normalise(text)
    plain = text.casefold()
    for secret in secrets:
        needle = _normalise(secret)
        if (needle and len(needle) >= 3 and needle in haystack) or secret.casefold() in plain:
            return True
    return False


def present_case(
    case: Any, *, visible: bool, contacts: Sequence[Any] | None = None, contacts_visible: bool | None = None
) -> dict[str, Any]:
    """The case's sensitive fields as a viewer may see them, plus the contact summary.

    `contacts_visible` defaults to `visible`; it is narrower for support staff (see `viewer_sees_contacts`).
    """
    contacts_visible = visible if contacts_visible is None else (visible and contacts_visible)
    data: dict[str, Any] = {field: (field_of(case, field) if visible else None) for field in MASKED_CASE_FIELDS}
    data["is_masked"] = not visible
    if contacts is not None:
        data["contacts_masked"] = not contacts_visible
        summary = summarise_contacts(contacts)
        data["contact_summary"] = summary
        data["contacts"] = (
            [
                {
                    "id": c.pk,
                    "relation": c.relation,
                    **{field: getattr(c, field) for field in sorted(MASKED_CONTACT_FIELDS)},
                }
                for c in contacts
            ]
            if contacts_visible
            else []
        )
    return data


def present_document_title(title: str, *, kind_label: str, visible: bool, secrets: Sequence[str]) -> str:
    """A document's title for owners; for anyone else only its kind.

    Court papers name parties and places in every spelling ("SMITH, JOHN", "123 Main St", "2023CA1234"), so a
    title can never be proven free of masked values: non-owners get the kind label, never free text.
    `secrets` is kept for callers that check other free text with `text_reveals`.
    """
    if visible:
        return title or kind_label
    return kind_label


def refused_query_keys(keys: Iterable[str], ordering_values: Iterable[str] = ()) -> list[str]:
    """The masked fields that a set of query keys (and ordering values) would filter or sort by."""
    refused = {key.split("__")[0] for key in keys if key.split("__")[0] in MASKED_QUERY_KEYS}
    for value in ordering_values:
        for part in value.split(","):
            name = part.strip().lstrip("-+").split("__")[0]
            if name in MASKED_QUERY_KEYS:
                refused.add(name)
    return sorted(refused)
