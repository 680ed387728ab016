// The review page's interactive layer (after player.js, which it uses for the audio and the words).
// Without it the page is a plain form that works on its own. Edit fields open on demand, "play from"
// buttons per paragraph, and a warning before leaving with unsent edits.
(function () {
  "use strict";
  var Player = window.OutreachPlayer;

  Player.ready(function () {
    var audio = document.getElementById("review-audio");
    var form = document.querySelector(".review-form");
    if (!form) return;
    var hasConflicts = document.querySelector(".error-summary") !== null;
    var player = audio ? Player.attach(audio, form) : null;

    // Warn before leaving with unsent edits (the guest's text lives only in this page until sent).
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (!dirty) return;
      event.preventDefault();
      event.returnValue = "";
    });

    // Edit fields open on demand (all open when the server reported a conflict).
    Array.prototype.forEach.call(form.querySelectorAll(".turn"), function (turn) {
      var edit = turn.querySelector(".turn-edit");
      var text = turn.querySelector(".turn-text");
      var bar = document.createElement("p");
      bar.className = "turn-tools";
      if (player && text) {
        var play = document.createElement("button");
        play.type = "button";
        play.className = "link-like play-from";
        play.textContent = "Spela från " + Player.clock(parseFloat(text.dataset.start));
        play.addEventListener("click", function () {
          player.seek(parseFloat(text.dataset.start));
        });
        bar.appendChild(play);
      }
      if (edit) {
        var toggle = document.createElement("button");
        toggle.type = "button";
        toggle.className = "link-like edit-toggle";
        toggle.textContent = "Rätta texten";
        toggle.setAttribute("aria-controls", edit.id);
        var open = hasConflicts;
        var setOpen = function (value) {
          open = value;
          edit.hidden = !open;
          toggle.setAttribute("aria-expanded", open ? "true" : "false");
        };
        toggle.addEventListener("click", function () {
          setOpen(!open);
          if (open) {
            var first = edit.querySelector("textarea");
            if (first) first.focus();
          }
        });
        setOpen(open);
        bar.appendChild(document.createTextNode(" "));
        bar.appendChild(toggle);
      }
      if (bar.childNodes.length) turn.insertBefore(bar, edit || null);
    });
  });
})();
