"""Shared pieces of our ModelAdmins."""

from functools import cached_property

from django.core.paginator import Page, Paginator


class CappedCountPaginator(Paginator):
    """A changelist paginator that counts at most `cap` rows.

    Django's changelist counts every matching row for its pages, even with show_full_result_count off: for an
    audit table that only grows (claim events, document accesses) that COUNT(*) reads the whole table on every
    page load and becomes most of the page's time (bench/admin.py). Counted through `LIMIT cap + 1`, the cost is
    bounded; past the cap the list says "more than {cap}" (templates/admin/pagination.html) and pages run to
    cap / per_page, filters and search narrow the rest down (the audit timelines page any history by keyset).
    """

    cap = 10_000
    count_capped = False  # more rows match than were counted

    @cached_property
    def count(self) -> int:
        counted = self.object_list[: self.cap + 1].count()
        self.count_capped = counted > self.cap
        return min(counted, self.cap)

    def page(self, number: int | str) -> Page:
        if not (self.count and self.count_capped):
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page  # a full page: the rows go on past the count
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)
