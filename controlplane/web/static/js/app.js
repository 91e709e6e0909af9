// Page behaviour that must live in a file: the CSP allows no inline script.
(function () {
  "use strict";

  function showError(text) {
    var area = document.getElementById("messages");
    if (!area) { return; }
    var message = document.createElement("p");
    message.className = "message message-error";
    message.textContent = text;
    area.replaceChildren(message);
  }

  // htmx does not swap error responses; say what happened instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) {
      showError("Your role does not allow this change.");
    } else if (status === 404) {
      showError("That item no longer exists. Reload the page to see the current state.");
    } else {
      showError("Something went wrong (" + status + "). Please reload the page and try again.");
    }
  });

  // Copy buttons next to credentials: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    }, function () {
      showError("Copying failed. Select the text and copy it by hand.");
    });
  });

  // After a form comes back with errors, take the person to the first one: the form may
  // be far down the page, and a screen reader should hear it.
  function focusFirstError(root) {
    var invalid = root.querySelector('[aria-invalid="true"], .form-errors[role="alert"]');
    if (!invalid) { return; }
    if (!invalid.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA)$/.test(invalid.tagName)) {
      invalid.setAttribute("tabindex", "-1");
    }
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
  document.addEventListener("DOMContentLoaded", function () { focusFirstError(document); });
  document.addEventListener("htmx:afterSettle", function (event) { focusFirstError(event.target); });

  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Check your connection and try again.");
  });
})();
