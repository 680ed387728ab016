// The review page's interactive layer. Without it the page is a plain form that works on its own.
// Click a word to hear it, the spoken word is highlighted, speed control, edit fields open on demand.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var rest = s % 60;
    return Math.floor(s / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  ready(function () {
    var audio = document.getElementById("review-audio");
    var form = document.querySelector(".review-form");
    if (!form) return;
    Array.prototype.forEach.call(document.querySelectorAll(".js-only"), function (el) {
      el.hidden = false;
    });
    var hasConflicts = document.querySelector(".error-summary") !== null;

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
      if (audio && text) {
        var play = document.createElement("button");
        play.type = "button";
        play.className = "link-like play-from";
        play.textContent = "Spela från " + clock(parseFloat(text.dataset.start));
        play.addEventListener("click", function () {
          seek(parseFloat(text.dataset.start));
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

    if (!audio) return;

    function seek(seconds) {
      if (isNaN(seconds)) return;
      audio.currentTime = seconds;
      var playing = audio.play();
      if (playing && playing.catch) playing.catch(function () {});
    }

    var speedBox = document.querySelector(".speed");
    var speed = document.getElementById("speed");
    if (speedBox && speed) {
      speedBox.hidden = false;
      speed.addEventListener("change", function () {
        audio.playbackRate = parseFloat(speed.value) || 1;
      });
    }

    var words = Array.prototype.map.call(form.querySelectorAll(".word"), function (el) {
      return { el: el, start: parseFloat(el.dataset.start), end: parseFloat(el.dataset.end) };
    });
    words.sort(function (a, b) { return a.start - b.start; });

    form.addEventListener("click", function (event) {
      var word = event.target.closest ? event.target.closest(".word") : null;
      if (word) seek(parseFloat(word.dataset.start));
    });

    var current = null;
    function highlight() {
      var t = audio.currentTime;
      var lo = 0, hi = words.length - 1, found = -1;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (words[mid].start <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      var next = found >= 0 && t <= words[found].end + 0.3 ? words[found].el : null;
      if (next === current) return;
      if (current) current.classList.remove("current");
      if (next) next.classList.add("current");
      current = next;
    }
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
  });
})();
