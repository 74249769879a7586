/* Keyboard shortcuts on the desk's lists of referrals: j/k move the row focus, o or Enter
   opens the focused referral, c claims it, ? shows the help overlay (#shortcuts-help).
   Progressive enhancement only: every action stays a link or a form without this file.
   Never fires while the user types in a field, nor with a modifier key held. */
(function () {
  "use strict";

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function rows() {
    var table = document.querySelector('[data-shortcuts="rows"]');
    return table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  }

  function current(list) {
    var active = document.activeElement;
    for (var i = 0; i < list.length; i++) {
      if (list[i] === active || list[i].contains(active)) return i;
    }
    return -1;
  }

  function focusRow(list, index) {
    if (!list.length) return;
    index = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (row) { row.classList.remove("row--focused"); });
    var row = list[index];
    row.classList.add("row--focused");
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target)) return;
    var help = document.getElementById("shortcuts-help");
    if (help && help.open) return;
    var list = rows();
    var index = current(list);
    var key = event.key;
    if (key === "?") {
      if (help && help.showModal) {
        event.preventDefault();
        help.showModal();
      }
      return;
    }
    if (key === "j" || key === "k") {
      if (!list.length) return;
      event.preventDefault();
      focusRow(list, index < 0 ? 0 : index + (key === "j" ? 1 : -1));
      return;
    }
    if (index < 0) return;
    var row = list[index];
    if (key === "o" || (key === "Enter" && event.target === row)) {
      var link = row.querySelector('[data-shortcut="open"]');
      if (link) {
        event.preventDefault();
        link.click();
      }
    } else if (key === "c") {
      var claim = row.querySelector('[data-shortcut="claim"]');
      if (claim) {
        event.preventDefault();
        claim.click();
      }
    }
  });
})();
