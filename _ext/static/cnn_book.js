/* The page's contents (right sidebar) follow the reader: the entry of the last section
   whose heading has scrolled above the top third of the window is highlighted, after
   every scroll and on load. (The theme only reacts when a heading crosses that band, so
   a jump into the middle of a long section left the wrong entry lit, or none.) */
(function () {
  "use strict";

  function setup() {
    const nav = document.querySelector("#pst-page-toc-nav");
    if (!nav) {
      return;
    }
    const links = Array.from(nav.querySelectorAll("a[href^='#']"));
    const entries = links
      .map((link) => [link, document.getElementById(decodeURIComponent(link.hash.slice(1)))])
      .filter(([, target]) => target !== null);
    if (!entries.length) {
      return;
    }

    function activate(current) {
      for (const link of links) {
        const on = link === current;
        link.classList.toggle("active", on);
        if (on) {
          link.setAttribute("aria-current", "true");
        } else {
          link.removeAttribute("aria-current");
        }
      }
      for (const item of nav.querySelectorAll(".toc-entry")) {
        item.classList.toggle("active", current !== null && item.contains(current));
      }
    }

    let pending = false;
    function update() {
      pending = false;
      const line = window.innerHeight / 3;
      let current = null;
      for (const [link, target] of entries) {
        if (target.getBoundingClientRect().top > line) {
          break;
        }
        current = link;
      }
      // at the very end of the page the last sections may never reach the line
      if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2) {
        current = entries[entries.length - 1][0];
      }
      activate(current);
    }

    window.addEventListener("scroll", () => {
      if (!pending) {
        pending = true;
        window.requestAnimationFrame(update);
      }
    }, { passive: true });
    window.addEventListener("resize", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
