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

  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Check your connection and try again.");
  });
})();
