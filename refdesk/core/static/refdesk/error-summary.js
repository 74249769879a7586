// GOV.UK's error summary behaviour, for the public forms:
// 1. focus the summary when the page loads with one (autofocus covers most browsers; this
//    covers those that ignore autofocus on a non-form element);
// 2. a link in the summary focuses its input and keeps the input's label or legend in view.
// Without JavaScript the summary is still the first thing in the main content, and its links
// still jump to the fields.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-focus-on-load]");
  if (!summary) {
    return;
  }
  if (document.activeElement !== summary) {
    summary.focus();
  }
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var input = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!input) {
      return;
    }
    event.preventDefault();
    var heading = input.closest("fieldset") ? input.closest("fieldset").querySelector("legend")
      : document.querySelector("label[for='" + input.id + "']");
    (heading || input).scrollIntoView();
    input.focus({ preventScroll: true });
  });
});
