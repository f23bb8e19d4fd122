// Plain (non-htmx) forms marked data-submit-once send one request per click. Without this a double click on
// "Release this case" posts twice, and the page then shows the second answer ("Was not claimed") instead of the
// first ("Released"). A form with data-confirm="question" asks first. htmx buttons use hx-disabled-elt and
// hx-confirm instead; without JavaScript the server still answers a repeated release truthfully.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement) || !form.hasAttribute("data-submit-once")) {
      return;
    }
    if (form.hasAttribute("data-submitting")) {
      event.preventDefault();
      return;
    }
    const question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitting", "");
    form.setAttribute("aria-busy", "true");
    // After this event: the submission has read the form by then (a disabled button's name/value is not sent).
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });

  // Back to this page from the next one (the back/forward cache keeps it as it was): the forms work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitting]").forEach(function (form) {
      form.removeAttribute("data-submitting");
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });
})();
