// The teaching page: publish a repository, see who is in each course and which version
// they synced, approve requests, make invite codes. Text is only set as textContent.
(() => {
  "use strict";
  const root = document.getElementById("teach");
  const base = root.dataset.baseUrl;
  const api = base + "mentorhub/api/";
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };

  async function call(method, path, body) {
    const response = await fetch(api + path, {
      method,
      headers: { "X-XSRFToken": root.dataset.xsrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) {
      const problems = (data.problems || []).map((p) =>
        typeof p === "string" ? p : `${p.file}${p.cell ? ` [${p.cell}]` : ""}: ${p.message}`);
      throw new Error([data.message || response.statusText, ...problems].join("\n"));
    }
    return data;
  }

  function notice(text, isError = false) {
    const box = document.getElementById("notice");
    box.textContent = text;
    box.className = isError ? "error" : "";
    box.hidden = !text;
  }

  async function course(entry) {
    const item = el("li", { className: "course" });
    item.dataset.slug = entry.course;
    item.append(el("div", { className: "head" }, el("h2", { textContent: entry.title }),
      el("span", { className: "level", textContent: `you are ${entry.role}` })));
    const roster = await call("GET", `courses/${entry.course}/roster`);
    const table = el("table", { className: "roster" });
    table.append(el("tr", {}, ...["Member", "Role", "Synced version", "Last synced"].map((h) => el("th", { textContent: h }))));
    for (const m of roster.members) {
      const behind = m.role === "learner" && m.synced_version !== roster.current_version;
      table.append(el("tr", { className: behind ? "behind" : "" },
        el("td", { textContent: m.username }), el("td", { textContent: m.role }),
        el("td", { textContent: m.synced_version ?? "never" }),
        el("td", { textContent: m.synced_at ? new Date(m.synced_at).toLocaleString() : "" })));
    }
    item.append(el("p", { className: "meta", textContent: `Current version: ${roster.current_version}` }), table);
    if (entry.role === "instructor") {
      const actions = el("div", { className: "actions" });
      for (const r of roster.requests) {
        const approve = el("button", { type: "button", className: "primary", textContent: `Approve ${r.username}` });
        approve.addEventListener("click", async () => {
          try {
            await call("POST", `courses/${entry.course}/requests/${encodeURIComponent(r.username)}`);
            notice(`${r.username} joined ${entry.title}.`);
            await load();
          } catch (e) { notice(e.message, true); }
        });
        actions.append(approve);
      }
      const invite = el("button", { type: "button", textContent: "New invite code" });
      invite.addEventListener("click", async () => {
        try {
          const { code } = await call("POST", `courses/${entry.course}/invite-code`);
          notice(`Invite code for ${entry.title}: ${code}\n(the previous code no longer works)`);
        } catch (e) { notice(e.message, true); }
      });
      actions.append(invite);
      item.append(actions);
    }
    return item;
  }

  async function load() {
    const list = document.getElementById("courses");
    try {
      const me = await call("GET", "me");
      const teaching = me.courses.filter((c) => c.role !== "learner");
      list.textContent = "";
      if (!teaching.length) list.append(el("li", { className: "meta", textContent: "You teach or mentor no course yet." }));
      for (const entry of teaching) list.append(await course(entry));
    } catch (e) {
      notice(e.message, true);
    }
  }

  document.getElementById("publish").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    button.disabled = true;
    notice("Publishing…");
    try {
      const source = document.getElementById("source").value.trim();
      const ref = document.getElementById("ref").value.trim() || null;
      const result = await call("POST", "publish", { source, ref });
      notice(result.new ? `${result.course}: published as version ${result.version}.`
        : `${result.course}: this commit is already version ${result.version}.`);
      await load();
    } catch (e) {
      notice(e.message, true);
    } finally {
      button.disabled = false;
    }
  });
  load();
})();
