/* The desk's progressive enhancement (everything works without it): after an htmx action
   replaces the referral page body, put the keyboard focus somewhere meaningful — the error
   summary if the action failed (it has autofocus), else the page heading — so focus is never
   left on a button that no longer exists. */
(function () {
  "use strict";
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "referral") return;
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); return; }
    var heading = target.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  });
}());
