// Polls the job's status while it runs and moves the <progress> bar; when the job has ended
// the page is loaded again and shows the result (the server renders it). No inline script:
// the Content-Security-Policy allows only this file.
"use strict";
(function () {
  const box = document.getElementById("job");
  if (!box) return;
  const bar = document.getElementById("job-progress");
  const url = box.dataset.statusUrl;
  async function poll() {
    try {
      const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      const status = await answer.json();
      if (status.total > 0) {
        bar.max = status.total;
        bar.value = status.done;
      }
      if (status.state !== "running") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // the local server is busy or restarting: try again shortly
    }
    window.setTimeout(poll, 400);
  }
  window.setTimeout(poll, 200);
})();
