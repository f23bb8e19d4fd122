"""Back office for claims. Every change goes through claims.services, so it is locked and audited."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import User
from audit.selectors import Subject
from audit.views import timeline_url
from cases.models import Case
from claims import services
from claims.models import Claim, ClaimEvent
from jsn.lib.admin import CappedCountPaginator
from jsn.lib.control_room import plain_id

NO_ACTIVE_CLAIM_SELECTED = "Select at least one active claim."
NO_HOLDER_SELECTED = "None of the selected users holds an active claim; nothing was released."
EXPIRY_REASON_REQUIRED = "Say why the expiry changes: the owner is e-mailed the new date with it."
CONFIRM_LISTED = 50  # the confirmation page names this many, then counts the rest


class ReleaseReasonForm(forms.Form):
    """The confirmation step of the admin's release actions: releasing takes a case away from someone who pays
    for it, so staff say why (the audit trail and the owner's e-mail carry it)."""

    reason = forms.CharField(max_length=200, help_text="Recorded in the audit trail and told to the owner.")


def _release_confirm_page(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    *,
    form: ReleaseReasonForm,
    title: str,
    items: list[str],
    selected: list[int],
    left_out: str = "",
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "items": items[:CONFIRM_LISTED],
        "more": max(0, len(items) - CONFIRM_LISTED),
        "left_out": left_out,  # what the selection held that this action does not touch, said before it runs
        "selected": selected,  # posted back as the selection, also when it was "select all" across pages
        "action": request.POST.get("action", ""),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/claims/release_confirm.html", context)


REASSIGN_TARGETS_URL = "claims_reassign_targets"  # claims/admin_urls.py
REASSIGN_TARGETS_PAGE = 20
NOT_AN_ACTIVE_USER = "Choose an active user: there is none with this id."


def reassign_targets() -> QuerySet[User]:
    """Who may receive a claim: active users, each with the number of active claims they hold (along the
    (user, status) index), by e-mail."""
    held = (
        Claim.objects.filter(user_id=OuterRef("pk"), status=Claim.Status.ACTIVE)
        .order_by()
        .values("user_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return User.objects.filter(is_active=True).annotate(active_claims=Coalesce(Subquery(held), 0)).order_by("email")


def reassign_target_label(user: User) -> str:
    return f"{user.email} ({user.active_claims} of {user.claim_limit} claims)"


class ReassignTargetSelect(AutocompleteSelect):
    """Django admin's autocomplete widget (select2, from static files only: the CSP allows no inline script),
    asking ReassignTargetAutocomplete for the users matching what staff type: never a <select> of every user."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(Claim._meta.get_field("user"), admin.site, attrs)

    def get_url(self) -> str:
        return reverse(REASSIGN_TARGETS_URL)

    def optgroups(self, name: str, value: list, attr: dict | None = None) -> list:
        # A form sent back with something that is not an id (its error already says so) shows no choice: Django's
        # widget would look it up as an id and fail.
        return super().optgroups(name, [v for v in value if plain_id(v) is not None], attr)


class ReassignTargetAutocomplete(AutocompleteJsonView):
    """GET /admin/claims/reassign-targets/?term=…: the active users the user admin's search finds for the term
    (e-mail, first or last name), REASSIGN_TARGETS_PAGE at a time, each with the claims they hold and their limit.
    For staff who may reassign claims (claims.change_claim), whatever their permissions on users."""

    paginate_by = REASSIGN_TARGETS_PAGE

    def process_request(self, request: HttpRequest) -> tuple[str, admin.ModelAdmin, object, str]:
        # One field only (a claim's owner): the widget's app/model/field parameters are not needed.
        term = request.GET.get("term", "").strip()
        return term, self.admin_site.get_model_admin(User), Claim._meta.get_field("user"), "id"

    def has_perm(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("claims.change_claim")

    def get_queryset(self) -> QuerySet[User]:
        users, _ = self.model_admin.get_search_results(self.request, reassign_targets(), self.term)
        return users  # the search is on the user's own columns: no join, nothing to de-duplicate

    def serialize_result(self, obj: User, to_field_name: str) -> dict[str, str]:
        return {"id": str(obj.pk), "text": reassign_target_label(obj)}


class ReassignTargetField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return reassign_target_label(obj)


class ReassignForm(forms.Form):
    """The reassign step. What the service would refuse for every selected claim is a form error here (an inactive
    or unknown user, the current owner, an owner at their limit); the service still decides under its locks, claim
    by claim, and what it refuses then is reported per claim."""

    to_user = ReassignTargetField(
        queryset=reassign_targets(),
        widget=ReassignTargetSelect(),
        label="New owner",
        help_text="Type part of their e-mail address or name.",
        error_messages={"invalid_choice": NOT_AN_ACTIVE_USER},
    )
    reason = forms.CharField(max_length=200, help_text="Recorded in the audit trail and told to both users.")

    def __init__(self, *args: object, claims: list[Claim], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.claims = claims

    def clean(self) -> dict:
        cleaned = super().clean()
        target = cleaned.get("to_user")
        if target is None:
            return cleaned
        if all(claim.user_id == target.pk for claim in self.claims):
            self.add_error("to_user", services.SAME_OWNER.format(email=target.email))
        elif target.active_claims >= target.claim_limit:
            self.add_error("to_user", services.TARGET_LIMIT.format(email=target.email, limit=target.claim_limit))
        return cleaned


class ClaimChangeForm(forms.ModelForm):
    """The claim's page: only the expiry is editable, and why it changed goes into the audit trail with it."""

    expiry_reason = forms.CharField(
        required=False,
        max_length=200,
        label="Reason for the expiry change",
        help_text="Required when the expiry changes: recorded in the audit trail and e-mailed to the owner.",
    )

    class Meta:
        model = Claim
        fields = ["expires_at"]

    def clean(self) -> dict:
        data = super().clean()
        if "expires_at" not in self.changed_data or "expires_at" not in data:
            return data
        expires_at = data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", services.EXPIRY_NOT_IN_FUTURE)
        if not data.get("expiry_reason", "").strip():
            self.add_error("expiry_reason", EXPIRY_REASON_REQUIRED)
        return data


class OwnerEmailFilter(admin.SimpleListFilter):
    """A text box for the owner's e-mail (or part of it). A link per owner, as Django's related-field filter
    draws, is thousands of links on every page load once thousands of users hold claims."""

    title = "owner e-mail"
    parameter_name = "owner"
    template = "admin/claims/claim/owner_filter.html"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: object) -> list[dict]:
        keep = [(k, v) for k, v in changelist.params.items() if k != self.parameter_name]
        return [{"value": self.value() or "", "keep": keep, "reset": changelist.get_query_string(remove=["owner"])}]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Claim]) -> QuerySet[Claim]:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        # Users first (a small table), then their claims along the user index: never a scan of every claim.
        return queryset.filter(user_id__in=User.objects.filter(email__icontains=value).values("pk"))


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["id", "case_link", "user", "status", "daily_price", "claimed_at", "expires_at", "released_at"]
    list_filter = ["status", OwnerEmailFilter, "claimed_at", "released_at", "expires_at"]
    search_fields = ["=id"]  # see get_search_results: the search looks at what the term looks like
    search_help_text = "A claim or case id, an owner's e-mail (or part of it) or a case number (or part of it)."
    # No date_hierarchy: it reads every row of the table (SELECT DISTINCT date_trunc) on each page load, which grows
    # with the audit trail; the date filter in the sidebar costs no query (bench/admin.py).
    list_select_related = ["user", "case"]
    ordering = ["-claimed_at", "-id"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    actions = ["release_claims", "reassign_claims"]
    form = ClaimChangeForm
    # Only the expiry is edited here (through claim_set_expiry, audited); everything else is history.
    fields = [
        "case",
        "user",
        "status",
        "claimed_at",
        "expires_at",
        "expiry_reason",
        "released_at",
        "release_reason",
        "score_at_claim",
        "daily_price_cents",
        "currency",
        "pricing_version",
        "expiry_warned_for",
    ]
    readonly_fields = [f for f in fields if f not in ("expires_at", "expiry_reason")]
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Claim], search_term: str
    ) -> tuple[QuerySet[Claim], bool]:
        """One indexed condition per kind of term, instead of Django's OR of `icontains` over joined tables, which
        reads every claim (seconds at 100,000 claims)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if (number := plain_id(term)) is not None:
            return queryset.filter(Q(pk=number) | Q(case_id=number)), False
        if "@" in term:
            return queryset.filter(user_id__in=User.objects.filter(email__icontains=term).values("pk")), False
        return queryset.filter(case_id__in=Case.objects.filter(case_number__icontains=term).values("pk")), False

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        # The link only for those who may open the timeline (checked once per page, not per row).
        if timeline_url(viewer=request.user, subject=Subject.CASE, pk=0) is not None:
            columns.append("audit_timeline")
        return columns

    @admin.display(description="Audit")
    def audit_timeline(self, obj: Claim) -> str:
        return format_html('<a href="{}">Timeline</a>', reverse("audit:case_timeline", args=[obj.case_id]))

    @admin.display(description="Case", ordering="case_id")
    def case_link(self, obj: Claim) -> str:
        return f"#{obj.case_id} {obj.case.county}, {obj.case.state}"

    @admin.display(description="Daily price", ordering="daily_price_cents")
    def daily_price(self, obj: Claim) -> str:
        return f"{obj.daily_price_cents // 100}.{obj.daily_price_cents % 100:02d} {obj.currency.upper()}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # claims start through claim_cases only (locks, limits, frozen price, audit)

    def has_delete_permission(self, request: HttpRequest, obj: Claim | None = None) -> bool:
        return False  # history: billing and the audit trail point at claims

    def get_fields(self, request: HttpRequest, obj: Claim | None = None) -> list[str]:
        if obj is not None and obj.status != Claim.Status.ACTIVE:
            return [f for f in self.fields if f != "expiry_reason"]  # an ended claim has no expiry left to change
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Claim | None = None) -> list[str]:
        if obj is not None and obj.status != Claim.Status.ACTIVE:
            return self.get_fields(request, obj)
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Claim, form: forms.ModelForm, change: bool) -> None:
        """Nothing but the expiry is saved, and only through the service: it locks, compares and writes the audit
        event in the admin's transaction (the admin's own history entry commits with it)."""
        if not (change and "expires_at" in form.changed_data):
            return
        try:
            changed = services.claim_set_expiry(
                actor=request.user,
                claim=obj,
                expires_at=form.cleaned_data["expires_at"],
                reason=form.cleaned_data.get("expiry_reason", ""),
            )
        except services.ClaimError as exc:  # busy: the case stayed locked; nothing changed
            self.message_user(request, exc.message, messages.ERROR)
            return
        if not changed:
            self.message_user(request, services.CLAIM_NOT_ACTIVE, messages.ERROR)

    @admin.action(description="Release selected claims (with a reason)…", permissions=["change"])
    def release_claims(self, request: HttpRequest, queryset: QuerySet[Claim]) -> HttpResponse | None:
        active = list(queryset.filter(status=Claim.Status.ACTIVE).select_related("user", "case").order_by("pk"))
        if not active:
            self.message_user(request, NO_ACTIVE_CLAIM_SELECTED, messages.WARNING)
            return None
        form = ReleaseReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            release_selected(request, claims=queryset, reason=form.cleaned_data["reason"])  # the active ones
            return None
        items = [
            f"Claim #{c.pk} — case #{c.case_id} ({c.case.county}, {c.case.state}), held by {c.user.email}"
            for c in active
        ]
        title = f"Release {len(active)} active claim{'s' if len(active) != 1 else ''}"
        ended = queryset.count() - len(active)
        left_out = (
            f"{ended} of the selected claims {'has' if ended == 1 else 'have'} already ended and "
            f"{'is' if ended == 1 else 'are'} left as {'it is' if ended == 1 else 'they are'}."
            if ended
            else ""
        )
        return _release_confirm_page(
            request, self, form=form, title=title, items=items, selected=[c.pk for c in active], left_out=left_out
        )

    @admin.action(description="Reassign to…", permissions=["change"])
    def reassign_claims(self, request: HttpRequest, queryset: QuerySet[Claim]) -> HttpResponse | None:
        return reassign_step(
            request,
            claims=queryset,
            each_context=self.admin_site.each_context(request),
            hidden={"action": "reassign_claims"},
            cancel_url=reverse("admin:claims_claim_changelist"),
        )


# --- Shared by the changelist actions and the claims control room (/admin/claims/) ----------------------------


def release_selected(request: HttpRequest, *, claims: QuerySet[Claim], reason: str) -> None:
    """Release the active claims among `claims` through claims.services (locked, audited), and say how many."""
    case_ids = list(claims.filter(status=Claim.Status.ACTIVE).values_list("case_id", flat=True))
    try:
        result = services.claim_release(actor=request.user, case_ids=case_ids, reason=reason)
    except services.ClaimBusyError as exc:
        messages.error(request, exc.message)
        return
    released = result.count(services.Outcome.RELEASED)
    messages.success(request, f"Released {released} claim{'s' if released != 1 else ''}.")


def reassign_step(
    request: HttpRequest,
    *,
    claims: QuerySet[Claim],
    each_context: dict,
    hidden: dict[str, str],
    cancel_url: str,
) -> HttpResponse | None:
    """The reassign intermediate page (ReassignForm) and, once applied, the reassignment through
    services.claim_reassign, one claim at a time. None when done (the outcome is in messages). `hidden` are the
    fields that bring the form back to the caller (the changelist action, or the control room's operation)."""
    active = list(claims.filter(status=Claim.Status.ACTIVE).select_related("user", "case"))
    if not active:
        messages.warning(request, NO_ACTIVE_CLAIM_SELECTED)
        return None
    # A reason typed before choosing "Reassign selected…" in the control room is carried onto this page.
    typed = request.POST.get("reason", "").strip()[: ReassignForm.base_fields["reason"].max_length]
    form = ReassignForm(request.POST if "apply" in request.POST else None, claims=active, initial={"reason": typed})
    if form.is_valid():
        to_user, reason = form.cleaned_data["to_user"], form.cleaned_data["reason"]
        moved, refused = 0, []
        with services.claim_notices_batched():  # each owner gets one e-mail for the whole selection
            for claim in active:
                try:
                    services.claim_reassign(actor=request.user, claim=claim, to_user=to_user, reason=reason)
                    moved += 1
                except services.ClaimError as exc:
                    refused.append(f"claim #{claim.pk}: {exc.message.rstrip('.')}")
        if moved:
            messages.success(request, f"Reassigned {moved} claim{'s' if moved != 1 else ''} to {to_user.email}.")
        if refused:
            messages.error(request, "Not reassigned — " + "; ".join(refused))
        return None
    context = {
        **each_context,
        "title": "Reassign claims",
        "opts": Claim._meta,
        "claims": active,
        "form": form,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "hidden": sorted(hidden.items()),
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, "admin/claims/claim/reassign.html", context)


@admin.register(ClaimEvent)
class ClaimEventAdmin(admin.ModelAdmin):
    """The audit trail: readable by staff with view permission, changeable by nobody."""

    list_display = [
        "created_at",
        "action",
        "case_id",
        "claim_id",
        "actor",
        "from_user",
        "to_user",
        "expiry_change",
        "reason",
    ]
    list_filter = ["action", "created_at"]
    search_fields = ["=case__id", "=claim__id", "actor__email", "from_user__email", "to_user__email", "reason"]
    # No date_hierarchy: it reads every row of the table (SELECT DISTINCT date_trunc) on each page load, which grows
    # with the audit trail; the date filter in the sidebar costs no query (bench/admin.py).
    list_select_related = ["actor", "from_user", "to_user"]
    show_full_result_count = False
    paginator = CappedCountPaginator  # the page's COUNT(*) would read every event ever written
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows

    @admin.display(description="Expiry")
    def expiry_change(self, obj: ClaimEvent) -> str:
        if obj.action != ClaimEvent.Action.EXPIRY_CHANGED:
            return ""
        before, after = (
            f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else "never"
            for at in (obj.expires_before, obj.expires_after)
        )
        return f"{before} → {after}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ClaimEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ClaimEvent | None = None) -> bool:
        return False


@admin.action(description="Release all claims of the selected users (with a reason)…", permissions=["change"])
def release_all_claims(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    """A UserAdmin action (registered in accounts/admin.py): a confirmation page naming each holder and how many
    claims they hold, with the reason, then claims_release_all_for_user for each."""
    held = dict(
        Claim.objects.filter(user__in=queryset, status=Claim.Status.ACTIVE)
        .order_by()
        .values("user_id")
        .annotate(n=Count("*"))
        .values_list("user_id", "n")
    )
    holders = list(queryset.filter(pk__in=held).order_by("email"))
    if not holders:
        modeladmin.message_user(request, NO_HOLDER_SELECTED, messages.WARNING)
        return None
    form = ReleaseReasonForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        items = [f"{u.email}: {held[u.pk]} active claim{'s' if held[u.pk] != 1 else ''}" for u in holders]
        total = sum(held.values())
        users = f"{len(holders)} user{'s' if len(holders) != 1 else ''}"
        title = f"Release all {total} claim{'s' if total != 1 else ''} of {users}"
        idle = queryset.count() - len(holders)
        left_out = (
            f"{idle} of the selected users {'holds' if idle == 1 else 'hold'} no active claim and "
            f"{'is' if idle == 1 else 'are'} left out."
            if idle
            else ""
        )
        return _release_confirm_page(
            request,
            modeladmin,
            form=form,
            title=title,
            items=items,
            selected=[u.pk for u in holders],
            left_out=left_out,
        )
    total = 0
    for user in holders:
        try:
            total += services.claims_release_all_for_user(
                actor=request.user, user=user, reason=form.cleaned_data["reason"]
            )
        except services.ClaimError as exc:
            modeladmin.message_user(request, f"{user.email}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"Released {total} claim{'s' if total != 1 else ''}.", messages.SUCCESS)
    return None
