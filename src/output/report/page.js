"use strict";
// Sorting: a click on a heading sorts its table by that column (numbers by
// their data-sort value), a second click reverses.
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.tHead.rows[0].cells;
  for (let i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const down = heads[i].dataset.dir !== "down";
      heads[i].dataset.dir = down ? "down" : "up";
      const key = (r) => {
        const c = r.cells[i];
        return c.dataset.sort !== undefined ? Number(c.dataset.sort) : c.textContent;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const o = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return down ? -o : o;
      });
      for (const r of rows) body.appendChild(r);
    });
  }
}
// Hover: every call, arrow and row of the same method is outlined.
let lit = [];
document.addEventListener("mouseover", (e) => {
  const el = e.target.closest ? e.target.closest("[data-method]") : null;
  for (const x of lit) x.classList.remove("hl");
  lit = [];
  if (!el) return;
  const m = el.getAttribute("data-method");
  for (const x of document.querySelectorAll("[data-method]")) {
    if (x.getAttribute("data-method") === m) { x.classList.add("hl"); lit.push(x); }
  }
});
