"""The support role: staff who see every back-office page but never a case contact's details without the
"Contact data access" permission — in the admin (every page), on the site, in the API, in documents and timelines.

Contacts carry generated, distinctive values (tests/factories.py) and every response body is searched for them raw,
HTML-escaped and JSON-escaped (tests/security/leaks.py), as in S1/S2.
"""

import contextlib

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import User
from audit.apps import CONTACT_DATA_GROUP, SUPPORT_GROUP
from audit.selectors import WITHHELD_NOTE
from claims import services as claim_services
from claims.models import ClaimEvent
from tests.audit import helpers as h
from tests.factories import CaseFactory, ContactFactory, UserFactory
from tests.security.documents_helpers import body_of, stored_document
from tests.security.leaks import leaked

pytestmark = pytest.mark.django_db


def contact_secrets(case) -> list[str]:
    values = []
    for contact in case.contacts.all():
        values += [contact.name, contact.mailing_address, *contact.phones, *contact.emails]
    return values


@pytest.fixture
def support(db) -> User:
    user = UserFactory(email="desk@example.com", role=User.Role.SUPPORT)
    user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def world(subscriber, other_subscriber):
    """A claimed case whose contacts, document title and file name all carry distinctive values, with a row in every
    back-office table that points at it."""
    root = User.objects.create_superuser("root@example.com", "pw-123456789")
    case = CaseFactory()
    ContactFactory(case=case)
    ContactFactory(case=case, relation="heir")
    contact = case.contacts.first()
    document = stored_document(case, title=f"Lis pendens against {contact.name}")
    claim_services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = case.claims.get()
    claim_services.claim_reassign(actor=root, claim=claim, to_user=other_subscriber, reason="Territory change")
    h.document_access(case=case, user=other_subscriber, when=timezone.now())
    inv = h.invoice(user=other_subscriber, case=case, stripe_id="in_world")
    h.invoice_event(inv=inv, when=timezone.now())
    customer = h.stripe_customer(user=other_subscriber)  # mirrored, as webhooks leave it: its admin page reads it
    h.stripe_event(when=timezone.now(), object_id="in_world", customer=customer.id)
    h.lead_delivery(user=other_subscriber, when=timezone.now())
    h.lead_event(user=other_subscriber, when=timezone.now(), actor=root)
    h.login(user=other_subscriber, when=timezone.now())
    # An admin edit of a contact through the case's inline is logged on the case: field names, never values.
    h.admin_change(obj=case, by=root, when=timezone.now(), message='[{"changed": {"name": "contact", "object": '
                   f'"Contact #{contact.pk} of case #{case.pk}", "fields": ["name"]}}}}]')  # fmt: skip
    return {"case": case, "document": document, "secrets": contact_secrets(case), "root": root}


def test_support_is_staff_and_cannot_grant_itself_access(support, client, world):
    assert support.is_staff and not support.is_superuser
    assert support.contact_data_withheld
    assert Group.objects.get(name=CONTACT_DATA_GROUP).permissions.filter(codename="view_contact_pii").exists()
    assert not Group.objects.get(name=SUPPORT_GROUP).permissions.filter(codename="view_contact_pii").exists()
    client.force_login(support)
    # The privilege fields (role, groups, permissions) are a superuser's to change.
    form = client.get(f"/admin/accounts/user/{support.pk}/change/").context["adminform"].form
    assert "groups" not in form.fields and "user_permissions" not in form.fields and "role" not in form.fields


def _admin_urls(world) -> list[str]:
    """Every admin page for every registered model, with objects where pages need one, plus the custom pages."""
    urls = ["/admin/", "/admin/cases/case/import-csv/", "/admin/leads/lead/upload/"]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(f"/admin/{opts.app_label}/")
        for name in ("changelist", "add"):
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}"))
        for pk in model._default_manager.order_by("-pk").values_list("pk", flat=True)[:2]:
            for name in ("change", "history", "delete"):
                with contextlib.suppress(NoReverseMatch):  # some models have no history or delete page
                    urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[pk]))
    case = world["case"]
    urls += [f"/admin/audit/case/{case.pk}/", f"/admin/audit/case/{case.pk}/?kind=document&kind=admin"]
    urls += [f"/admin/audit/user/{user.pk}/" for user in User.objects.all()]
    return sorted(set(urls))


def test_support_without_access_never_receives_a_contact_value_in_the_admin(support_client, world):
    failures, ok_pages = [], 0
    for url in _admin_urls(world):
        response = support_client.get(url)
        if response.status_code >= 500:
            failures.append(f"{url}: {response.status_code}")
            continue
        found = leaked(body_of(response).decode("utf-8", "replace"), world["secrets"])
        if found:
            failures.append(f"{url}: leaked {found}")
        ok_pages += response.status_code == 200
    assert not failures, "\n".join(failures)
    assert ok_pages > 60  # the walk really read the pages (the Support group may view them all)
    # The case page itself is there, with the case's own fields and only a summary of the contacts.
    body = support_client.get(f"/admin/cases/case/{world['case'].pk}/change/").content.decode()
    assert world["case"].case_number in body
    assert "name, 2 phones, 1 e-mail, mailing address on file" in body
    assert "Contacts (withheld" in body and "Documents (titles and files withheld)" in body


def test_support_cannot_search_or_filter_by_contact_fields(support_client, world):
    contact = world["case"].contacts.first()
    for value in world["secrets"]:
        response = support_client.get("/admin/cases/case/", {"q": value})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0
    # A lookup through the relation is refused outright (Django answers 400 for a lookup not in list_filter).
    assert support_client.get("/admin/cases/case/", {"contacts__name": contact.name}).status_code == 400
    assert support_client.get("/admin/cases/case/", {"contacts__name__icontains": "Secret"}).status_code == 400


def test_the_search_guard_drops_contact_fields_only_for_support(support, world, rf):
    from cases.admin import CaseAdmin
    from cases.models import Case

    case_admin = CaseAdmin(Case, admin.site)
    case_admin.search_fields = [*case_admin.search_fields, "contacts__name", "=contacts__phones"]
    request = rf.get("/admin/cases/case/")
    request.user = support
    assert not [f for f in case_admin.get_search_fields(request) if "contacts__" in f]
    request.user = world["root"]
    assert "contacts__name" in case_admin.get_search_fields(request)


def test_with_the_permission_support_sees_the_contacts(support, client, world):
    support.groups.add(Group.objects.get(name=CONTACT_DATA_GROUP))
    support = User.objects.get(pk=support.pk)
    assert not support.contact_data_withheld
    client.force_login(support)
    body = client.get(f"/admin/cases/case/{world['case'].pk}/change/").content.decode()
    contact = world["case"].contacts.first()
    assert leaked(body, [contact.name, contact.phones[0], contact.emails[0], contact.mailing_address])
    assert world["document"].title in body


def test_support_on_the_site_and_api_sees_the_case_but_not_its_contacts(support_client, support, world):
    case, secrets = world["case"], world["secrets"]
    page = support_client.get(f"/cases/{case.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert case.street in body  # a case field: support sees it
    assert not leaked(body, secrets)
    assert "withheld from the support role" in body
    api = support_client.get(f"/api/v3/cases/{case.pk}")
    data = api.json()
    assert not leaked(api.content.decode(), secrets)
    assert data["contacts"] == [] and data["contacts_masked"] is True and data["is_masked"] is False
    assert data["contact_summary"]["contacts"] == 2
    assert all(document["locked"] for document in data["documents"])
    # Documents name the contacts: no link for support without access, and the refusal is logged as such.
    refused = support_client.post(f"/api/v3/documents/{world['document'].pk}/link")
    assert refused.status_code == 403
    assert world["document"].accesses.filter(user=support, reason="contact_data_withheld").exists()


def test_granted_support_gets_document_links(support, client, world):
    support.groups.add(Group.objects.get(name=CONTACT_DATA_GROUP))
    client.force_login(User.objects.get(pk=support.pk))
    assert client.post(f"/api/v3/documents/{world['document'].pk}/link").status_code == 201
    assert client.get(f"/api/v3/cases/{world['case'].pk}").json()["contacts_masked"] is False


def test_staff_role_is_not_affected(client, world, staff_user):
    """Plain staff (not support) keep seeing contacts without any extra permission."""
    client.force_login(staff_user)
    data = client.get(f"/api/v3/cases/{world['case'].pk}").json()
    assert data["contacts_masked"] is False and len(data["contacts"]) == 2


def test_timeline_notes_naming_a_contact_are_withheld_from_support(support, client, world, subscriber):
    case = world["case"]
    contact = case.contacts.first()
    h.claim_event(
        case=case,
        when=timezone.now(),
        action=ClaimEvent.Action.RELEASED,
        from_user=subscriber,
        actor=world["root"],
        reason=f"Owner {contact.name} called, phone {contact.phones[0]}",
    )
    client.force_login(support)
    for url in (f"/admin/audit/case/{case.pk}/", f"/admin/audit/user/{subscriber.pk}/"):
        body = client.get(url).content.decode()
        assert not leaked(body, world["secrets"]), url
        assert WITHHELD_NOTE in body and "Territory change" in body, url
    support.groups.add(Group.objects.get(name=CONTACT_DATA_GROUP))
    client.force_login(User.objects.get(pk=support.pk))
    assert contact.name in client.get(f"/admin/audit/case/{case.pk}/").content.decode()
