// The course catalog page: search, enrol, get the course and its updates, leave.
// Everything goes through this server's mentorhub API (same origin, XSRF-protected);
// text from the service is only ever set as textContent, never as HTML.
(() => {
  "use strict";
  const root = document.getElementById("catalog");
  const base = root.dataset.baseUrl;
  const xsrf = root.dataset.xsrf;
  const api = base + "mentorhub/api/courses";
  const selectedTags = new Set();
  const knownTags = new Set();

  async function call(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "X-XSRFToken": xsrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }

  function notice(text, isError = false) {
    const el = document.getElementById("notice");
    el.textContent = text;
    el.className = isError ? "error" : "";
    el.hidden = !text;
  }

  function describeSync(report) {
    const lines = [];
    const count = (list, what) => list.length && lines.push(`${list.length} ${what}`);
    count(report.added, "file(s) added");
    count(report.updated, "file(s) updated");
    count(report.restored, "file(s) restored");
    for (const [mine, upstream] of report.kept_local) {
      lines.push(`You changed ${mine}: your version is kept; the new one is at ${upstream}`);
    }
    if (!lines.length) lines.push("Already up to date");
    return `${report.course} is in ~/courses/${report.course} (version ${report.version}).\n` + lines.join("\n");
  }

  function openCourse(slug) {
    const path = `courses/${slug}`;
    if (window.parent !== window) {
      window.parent.postMessage({ mentorhub: "open", path }, window.location.origin);
    } else {
      window.location.href = `${base}lab/tree/${path}`;
    }
  }

  function button(label, onClick, primary = false) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (primary) b.className = "primary";
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await onClick();
      } catch (e) {
        notice(e.message, true);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  async function enrol(course, code) {
    const result = await call("POST", `${api}/${course.slug}/enrolment`, code ? { code } : {});
    if (result.status === "pending") notice(`Asked to join ${course.title}; an instructor will answer.`);
    else notice(describeSync(result.sync));
    await load();
  }

  function actions(course, el) {
    const status = course.my_role;
    if (status) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = status === "learner" ? "Enrolled" : `You are ${status}`;
      el.append(badge, button("Open", async () => {
        const status = await call("GET", `${api}/${course.slug}/sync`);
        if (!status.synced_version) notice(describeSync(await call("POST", `${api}/${course.slug}/sync`)));
        openCourse(course.slug);
      }, true));
      const update = document.createElement("span");
      update.className = "actions";
      el.append(update);
      call("GET", `${api}/${course.slug}/sync`).then((s) => {
        if (!s.update_available) return;
        const first = !s.synced_version;
        const label = Object.assign(document.createElement("span"), { className: "update" });
        label.textContent = first ? "Not in your home yet" : `Version ${s.version} is available`;
        update.append(label, button(first ? "Get the course" : "Get update", async () => {
          notice(describeSync(await call("POST", `${api}/${course.slug}/sync`)));
          await load();
        }, first));
      }).catch(() => {});
      if (status === "learner") {
        el.append(button("Leave", async () => {
          if (!window.confirm(`Leave ${course.title}? Your files stay in ~/courses/${course.slug}.`)) return;
          await call("DELETE", `${api}/${course.slug}/enrolment`);
          notice(`You left ${course.title}. Your files are still in ~/courses/${course.slug}.`);
          await load();
        }));
      }
      return;
    }
    if (course.pending) {
      const wait = document.createElement("span");
      wait.textContent = "Waiting for an instructor's approval";
      el.append(wait, button("Withdraw", async () => {
        await call("DELETE", `${api}/${course.slug}/enrolment`);
        await load();
      }));
      return;
    }
    const seats = course.enrolment.seats_left;
    if (seats === 0) {
      el.append(Object.assign(document.createElement("span"), { textContent: "Full" }));
      return;
    }
    if (course.enrolment.policy === "invite") {
      const input = Object.assign(document.createElement("input"), { placeholder: "Invite code", ariaLabel: "Invite code" });
      el.append(input, button("Enrol", () => enrol(course, input.value.trim()), true));
    } else if (course.enrolment.policy === "approval") {
      el.append(button("Ask to join", () => enrol(course), true));
    } else {
      el.append(button("Enrol", () => enrol(course), true));
    }
  }

  async function outline(course, body) {
    try {
      const detail = await call("GET", `${api}/${course.slug}`);
      body.textContent = "";
      const add = (title, items) => {
        if (!items.length) return;
        body.append(Object.assign(document.createElement("strong"), { textContent: title }));
        const ul = document.createElement("ul");
        for (const text of items) ul.append(Object.assign(document.createElement("li"), { textContent: text }));
        body.append(ul);
      };
      add("Lessons", detail.lessons.map((p) => p.split("/").pop().replace(/\.ipynb$/, "")));
      add("Assignments", detail.assignments.map((a) =>
        `${a.title} · ${a.points} points` + (a.due ? ` · due ${new Date(a.due).toLocaleString()}` : "")));
    } catch (e) {
      body.textContent = e.message;
    }
  }

  function card(course) {
    const node = document.getElementById("course-card").content.firstElementChild.cloneNode(true);
    node.dataset.slug = course.slug;
    node.querySelector(".title").textContent = course.title;
    node.querySelector(".level").textContent = course.level || "";
    node.querySelector(".description").textContent = course.description;
    const tags = node.querySelector(".tags");
    for (const tag of course.tags) tags.append(Object.assign(document.createElement("span"), { textContent: `#${tag}` }));
    const seats = course.enrolment.seats_left;
    node.querySelector(".policy").textContent =
      { open: "Open enrolment", invite: "By invitation", approval: "Instructor approval" }[course.enrolment.policy] +
      (seats === null ? "" : ` · ${seats} seat(s) left`);
    actions(course, node.querySelector(".actions"));
    const details = node.querySelector(".outline");
    details.addEventListener("toggle", () => details.open && outline(course, node.querySelector(".outline-body")), { once: true });
    return node;
  }

  function renderTags() {
    const box = document.getElementById("tags");
    box.textContent = "";
    for (const tag of [...knownTags].sort()) {
      const b = Object.assign(document.createElement("button"), { type: "button", className: "tag", textContent: tag });
      b.setAttribute("aria-pressed", String(selectedTags.has(tag)));
      b.addEventListener("click", () => {
        selectedTags.has(tag) ? selectedTags.delete(tag) : selectedTags.add(tag);
        load();
      });
      box.append(b);
    }
  }

  async function load() {
    const params = new URLSearchParams();
    const q = document.getElementById("q").value.trim();
    if (q) params.set("q", q);
    for (const tag of selectedTags) params.append("tag", tag);
    try {
      const data = await call("GET", `${api}?${params}`);
      data.courses.forEach((c) => c.tags.forEach((t) => knownTags.add(t)));
      renderTags();
      document.getElementById("summary").textContent =
        `${data.total} course${data.total === 1 ? "" : "s"}` + (q || selectedTags.size ? " match" : "");
      const list = document.getElementById("courses");
      list.textContent = "";
      for (const course of data.courses) list.append(card(course));
    } catch (e) {
      notice(e.message, true);
    }
  }

  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  load();
})();
