// The audio player layer shared by the guest review page and the public episode pages.
// Without it the pages still work: native <audio> controls and readable text. With it: words become
// clickable (their times come from one compact JSON block, see outreach/podcast/wordtimes.py), the
// spoken word and its paragraph are highlighted, `#t=12:34` links seek, and a speed control appears.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (rest < 10 ? "0" : "") + rest;
  }

  // "12:34", "1:02:03", "754" or "754.5" -> seconds (NaN when it is none of these).
  function parseTime(text) {
    if (!/^\d+(?::\d{1,2}){0,2}(?:\.\d+)?$/.test(text || "")) return NaN;
    return text.split(":").reduce(function (total, part) {
      return total * 60 + parseFloat(part);
    }, 0);
  }

  function hashTime(hash) {
    var match = /(?:^#|&)t=([^&]+)/.exec(hash || "");
    return match ? parseTime(decodeURIComponent(match[1])) : NaN;
  }

  // Split a segment's text into word spans timed by `times` ([gap, length, ...] in centiseconds from
  // the segment's data-start). Existing child elements (e.g. an uncertain word) count as one word.
  // A segment whose word count does not match its timings is left as it is.
  function wordify(segment, times) {
    var pieces = [], count = 0;
    Array.prototype.forEach.call(segment.childNodes, function (node) {
      if (node.nodeType === 3) {
        node.nodeValue.split(/(\s+)/).forEach(function (part) {
          if (!part) return;
          var word = !/^\s+$/.test(part);
          pieces.push({ text: part, word: word });
          if (word) count += 1;
        });
      } else if (node.nodeType === 1) {
        pieces.push({ el: node, word: true });
        count += 1;
      }
    });
    if (!times || count * 2 !== times.length) return [];
    var position = Math.round(parseFloat(segment.dataset.start) * 100), index = 0, words = [];
    var fragment = document.createDocumentFragment();
    pieces.forEach(function (piece) {
      if (!piece.word) {
        fragment.appendChild(document.createTextNode(piece.text));
        return;
      }
      var el = piece.el || document.createElement("span");
      if (!piece.el) el.textContent = piece.text;
      var start = position + times[index], end = start + times[index + 1];
      position = end;
      index += 2;
      el.classList.add("word");
      el.dataset.start = (start / 100).toFixed(2);
      el.dataset.end = (end / 100).toFixed(2);
      words.push({ el: el, start: start / 100, end: end / 100 });
      fragment.appendChild(el);
    });
    segment.textContent = "";
    segment.appendChild(fragment);
    return words;
  }

  function readTimes() {
    var block = document.getElementById("word-times");
    if (!block) return [];
    try { return JSON.parse(block.textContent) || []; } catch (e) { return []; }
  }

  // The last item whose start is at or before t (items sorted by start), or -1.
  function lastStarted(items, t) {
    var lo = 0, hi = items.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (items[mid].start <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  // Wire `audio` to the text inside `root`; returns {seek: function (seconds, play)}.
  function attach(audio, root) {
    var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");
    var follow = document.getElementById("follow");
    var currentWord = null, currentTurn = null;

    function seek(seconds, play) {
      if (isNaN(seconds)) return;
      audio.currentTime = seconds;
      highlight(); // at once, not only when the (possibly slow) seek completes
      if (play === false) return;
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

    var times = readTimes(), words = [], segments = [];
    Array.prototype.forEach.call(root.querySelectorAll(".segment"), function (el, i) {
      segments.push({
        el: el,
        turn: el.closest(".turn"),
        start: parseFloat(el.dataset.start),
        end: parseFloat(el.dataset.end),
      });
      words = words.concat(wordify(el, times[i]));
    });
    words.sort(function (a, b) { return a.start - b.start; });
    segments.sort(function (a, b) { return a.start - b.start; });

    root.addEventListener("click", function (event) {
      if (!event.target.closest) return;
      var link = event.target.closest("a[href^='#t=']");
      var word = event.target.closest(".word");
      if (link) {
        event.preventDefault();
        if (window.history && history.replaceState) history.replaceState(null, "", link.getAttribute("href"));
        seek(hashTime(link.getAttribute("href")));
      } else if (word) {
        seek(parseFloat(word.dataset.start));
      }
    });
    window.addEventListener("hashchange", function () { seek(hashTime(location.hash)); });
    var initial = hashTime(location.hash);
    if (!isNaN(initial)) {
      if (audio.readyState >= 1) seek(initial, false);
      else audio.addEventListener("loadedmetadata", function () { seek(initial, false); }, { once: true });
    }

    function highlight() {
      var t = audio.currentTime;
      var w = lastStarted(words, t);
      var nextWord = w >= 0 && t <= words[w].end + 0.3 ? words[w].el : null;
      if (nextWord !== currentWord) {
        if (currentWord) currentWord.classList.remove("current");
        if (nextWord) nextWord.classList.add("current");
        currentWord = nextWord;
      }
      var s = lastStarted(segments, t);
      var nextTurn = s >= 0 && t <= segments[s].end + 1 ? segments[s].turn : null;
      if (nextTurn === currentTurn) return;
      if (currentTurn) currentTurn.classList.remove("playing");
      if (nextTurn) {
        nextTurn.classList.add("playing");
        // Only when the reader asked to follow along, and never animated for reduced motion.
        if (follow && follow.checked && !audio.paused) {
          nextTurn.scrollIntoView({
            block: "center",
            behavior: reduceMotion && reduceMotion.matches ? "auto" : "smooth",
          });
        }
      }
      currentTurn = nextTurn;
    }
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
    return { seek: seek };
  }

  // The copy button next to a read-only field (the show page's feed address).
  function copyButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
      var field = document.getElementById(button.dataset.copy);
      var status = button.parentNode.querySelector("[role=status]");
      button.addEventListener("click", function () {
        field.select();
        var done = function () { if (status) status.textContent = "Adressen är kopierad."; };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(field.value).then(done, function () {
            if (document.execCommand("copy")) done();
          });
        } else if (document.execCommand("copy")) {
          done();
        }
      });
    });
  }

  ready(function () {
    Array.prototype.forEach.call(document.querySelectorAll(".js-only"), function (el) {
      el.hidden = false;
    });
    copyButtons();
    // The public episode page; the review page attaches its own player in review.js.
    var audio = document.getElementById("player-audio");
    if (audio) attach(audio, document.querySelector("main") || document.body);
  });

  window.OutreachPlayer = { attach: attach, clock: clock, parseTime: parseTime, ready: ready };
})();
