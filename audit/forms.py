from django import forms

from audit.selectors import Cursor, Kind, TimelineError

ERR_RANGE = "The date range ends before it starts."


class TimelineFilterForm(forms.Form):
    """The timeline's query string: kinds of event, a date range (inclusive, UTC days) and the page cursor."""

    kind = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Show")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: object, kinds: tuple[Kind, ...], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind.value, kind.label) for kind in kinds]

    def clean_before(self) -> str:
        before = self.cleaned_data.get("before") or ""
        if before:
            try:
                Cursor.decode(before)
            except TimelineError as exc:
                raise forms.ValidationError(str(exc), code="invalid_cursor") from None
        return before

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(ERR_RANGE, code="invalid_range")
        return data
