// Call analytics dashboard: the reference client of the service's public REST API.
// Plain JavaScript, no build step and no third-party code: the charts are drawn as SVG here.
// Every text that comes from the API is set with textContent (never innerHTML), so an
// organization name or a breakdown value can never inject markup.

// The access token lives in this tab's sessionStorage only: never in a URL, a cookie or
// localStorage. Everything the page keeps there starts with STORAGE_PREFIX; signing out clears it.
const STORAGE_PREFIX = "callAnalytics.";
const KEY_STORAGE = `${STORAGE_PREFIX}adminKey`;
const TREND_WINDOWS = [28, 90, 365]; // days of stored reports the trend charts can show
const TREND_DEFAULT = 28;
const BREAKDOWN_ROWS = 8;
const JOB_POLL_MS = 700;
const SVG_NS = "http://www.w3.org/2000/svg";

// No KPI, breakdown or trend is named here: the cards, the breakdown sections and the trend charts
// follow the catalogue the service builds from the dbt mart YAML (GET /api/catalog), loaded once
// before the first render. Adding a KPI is SQL plus YAML.

const state = {
  catalog: null, // GET /api/catalog: {metrics_version, kpis: [...], breakdowns: [...]}
  trends: [], // the trend charts the catalogue declares (see buildTrends)
  orgs: [],
  orgId: null,
  mode: "day", // "day": a stored report; "range": a live report from the marts
  date: null,
  start: null,
  end: null,
  datePinned: false, // a day picked by hand is kept when the organization changes
  summaries: [], // the stored-report summaries inside the trend window, oldest first
  trendDays: TREND_DEFAULT, // the trend window; kept when the organization changes
  trendsOutside: 0, // fetched summaries older than the window (not drawn)
  trendSeq: 0,
  me: null, // GET /api/me: {scope: "admin" | "reader", name, org_ids}; null while signed out
  session: 0, // bumped at each sign-in and sign-out: answers to an earlier session are dropped
  report: null,
  revision: null, // an older revision asked for (?rev=K); null: the current one
  revisions: [], // the shown day's revisions (GET /api/reports/{day}/revisions), oldest first
  historySeq: 0, // answers about an earlier report's revisions or diff are dropped
  scheduler: null,
  requestSeq: 0, // answers to superseded requests are dropped (fast org/date switching)
};

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

// Formats follow the reader's locale; values arrive already rounded to 2 decimals.
const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtInt = (v) => (v === null || v === undefined ? "—" : intFormat.format(v));
const fmtDec = (v) => (v === null || v === undefined ? "—" : decFormat.format(v));
const fmtPct = (v) => (v === null || v === undefined ? "—" : `${decFormat.format(v)}%`);
// Axis ticks are round numbers: no trailing zeros.
const axisFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fmtAxis = (v) => axisFormat.format(v);
const fmtAxisPct = (v) => `${axisFormat.format(v)}%`;

/** A catalogue KPI's value as shown: by its `format` (an unknown format reads as a decimal). */
function fmtKpi(kpi, value) {
  switch (kpi.format) {
    case "int":
      return fmtInt(value);
    case "percent":
    case "share":
      return fmtPct(value);
    default:
      return fmtDec(value);
  }
}

/** The same, with a decimal's unit ("12.50 h"): for chart titles, notes and the trend table. */
function fmtKpiUnit(kpi, value) {
  const text = fmtKpi(kpi, value);
  return kpi.unit && text !== "—" && !isPercentLike(kpi) ? `${text} ${kpi.unit}` : text;
}

const isPercentLike = (kpi) => kpi.format === "percent" || kpi.format === "share";

/** A label inside a sentence: "Classified calls" becomes "classified calls", "API calls" stays. */
function lowerFirst(text) {
  return /^[A-Z][^A-Z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

// Local dates are handled as "YYYY-MM-DD" strings; arithmetic goes through UTC so no local
// timezone or DST of the reader's machine can shift a day.
function addDays(iso, n) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86400000);
}

/** Today's local date in the organization's timezone (stored reports exist only before it). */
function todayIn(tz) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

function longDate(iso) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  }).format(new Date(`${iso}T00:00:00Z`));
}

function shortDate(iso, withYear = false) {
  return new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: withYear ? "numeric" : undefined, timeZone: "UTC",
  }).format(new Date(`${iso}T00:00:00Z`));
}

/** A day in the trend table: weekday, day and month, and the year only when asked. */
function tableDate(iso, withYear = false) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: withYear ? "numeric" : undefined, timeZone: "UTC",
  }).format(new Date(`${iso}T00:00:00Z`));
}

/** Whether the trend window shown spans two calendar years: then its day labels carry the year. */
function trendsSpanYears() {
  const rows = state.summaries;
  return rows.length > 1 && rows[0].report_date.slice(0, 4) !== rows[rows.length - 1].report_date.slice(0, 4);
}

/** An instant shown in the organization's timezone, plus how long ago. */
function instant(iso, tz) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const when = new Date(iso);
  let text;
  try {
    text = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZone: tz || undefined, timeZoneName: "short",
    }).format(when);
  } catch {
    text = when.toLocaleString();
  }
  return h("span", {}, h("time", { datetime: iso }, text), h("span", { class: "muted" }, ` (${ago(when)})`));
}

function ago(when) {
  const seconds = (when.getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const steps = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return rtf.format(Math.round(seconds), "second");
}

function currentOrg() {
  return state.orgs.find((o) => o.org_id === state.orgId) || null;
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail, { dropped = false } = {}) {
    super(detail);
    this.status = status;
    // Nothing to show: a 401 (the page went back to the token prompt), or the answer to a request
    // of an earlier session (signed out since). Callers return without rendering anything.
    this.dropped = dropped;
  }
}

const dropped = (error) => error instanceof ApiError && error.dropped;

function adminKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

/** Whether the page reads as an admin (the admin key, an admin token, or a service without API_KEY). */
const isAdmin = () => state.me?.scope === "admin";

/** JSON from the service, or an ApiError carrying the status and the service's own message. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // The access token (a reader token, an admin token or the admin key) goes with every request:
  // with API_KEY set, the service reads nothing without one. Without a token the request still
  // goes out: a service with no API_KEY configured accepts it, and otherwise its 401 says why.
  // The header is the only place the token goes: never a URL (query or fragment) or a cookie.
  if (adminKey()) headers.Authorization = `Bearer ${adminKey()}`;
  const session = state.session;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    if (session !== state.session) throw new ApiError(0, "Signed out", { dropped: true });
    throw new ApiError(0, "The service did not answer. Check that it is running, then try again.");
  }
  const text = await response.text();
  if (session !== state.session) throw new ApiError(response.status, "Signed out", { dropped: true });
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    let detail = data && data.detail !== undefined ? data.detail : response.statusText;
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    detail = detail || `HTTP ${response.status}`;
    if (response.status === 401) {
      // No token, or one the service no longer accepts (unknown, revoked, expired): whatever was
      // asked, the page goes back to the token prompt and says why.
      askForToken(detail);
      throw new ApiError(401, detail, { dropped: true });
    }
    throw new ApiError(response.status, detail);
  }
  return data;
}

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();

/** What an operator should read for a refused or failed request. */
function explain(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error.message || error}`;
  switch (error.status) {
    case 401: // no token, or one the service does not accept: the page shows the token prompt
      return `Refused: ${sentence(error.message)} Sign in with a valid access token.`;
    case 403: // a valid token without the right: a reader token asking for an admin action
      return `Refused: ${sentence(error.message)}`;
    case 400: // the service's own words say what it refused and why
      return sentence(error.message);
    case 503: // the service's own words say what is down (warehouse or report store)
      return `${error.message.replace(/\.$/, "")}. Try again shortly.`;
    case 0:
      return error.message;
    default:
      return `${error.message} (HTTP ${error.status})`;
  }
}

/** The service's message as a sentence: a capital first letter and a final full stop. */
function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// ---------------------------------------------------------------------------------------------
// Loading the page's data
// ---------------------------------------------------------------------------------------------

function init() {
  wireEvents();
  start();
}

/**
 * Signs in with the token in sessionStorage (none: a service without API_KEY still reads), then
 * loads the KPI catalogue (once) and the organizations: nothing is rendered before the catalogue.
 * A 401 on the way goes to the token prompt (see api()).
 */
async function start() {
  const session = ++state.session;
  state.me = null;
  showStatus("loading", "Signing in…");
  try {
    state.me = await api("/api/me");
  } catch (error) {
    if (dropped(error)) return;
    $("sign-in").disabled = false;
    showLoadError("Could not sign in.", error);
    return;
  }
  if (session !== state.session) return;
  showBoard();
  if (!state.catalog) {
    showStatus("loading", "Loading the KPI catalogue…");
    try {
      state.catalog = checkedCatalog(await api("/api/catalog"));
    } catch (error) {
      if (!dropped(error)) showLoadError("Could not load the KPI catalogue.", error);
      return;
    }
    state.trends = buildTrends(state.catalog.kpis);
  }
  await loadOrganizations();
}

/** A failed first load (the service down, a 503): what went wrong, and a retry. */
function showLoadError(what, error) {
  showStatus("error", `${what} ${explain(error)}`, { retry: start });
}

// ---------------------------------------------------------------------------------------------
// Signing in and out
// ---------------------------------------------------------------------------------------------

/**
 * The service answered 401: back to the token prompt, saying why. The refused token is dropped from
 * sessionStorage, and every request still on its way belongs to a session that is over.
 */
function askForToken(detail) {
  const had = adminKey();
  const wasSignedIn = state.me !== null;
  sessionStorage.removeItem(KEY_STORAGE);
  const why = lowerFirst(sentence(detail)); // the service's words: "the token was revoked."
  let reason;
  if (wasSignedIn) reason = `You were signed out: ${why} Enter a valid access token to sign in again.`;
  else if (had) reason = `Your access token was not accepted: ${why} Enter a valid one to sign in.`;
  else reason = "This service needs an access token to show its reports. Enter yours to sign in.";
  showSignIn(reason, { error: Boolean(had) });
}

/** Sign out: forget the token (everything the page kept in sessionStorage) and show the prompt. */
function signOut() {
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(STORAGE_PREFIX)) sessionStorage.removeItem(key);
  }
  showSignIn("You signed out. Enter an access token to sign in again.");
}

/** The token prompt instead of the dashboard: nothing read with the previous token stays on screen. */
function showSignIn(reason, { error = false } = {}) {
  state.session += 1; // answers still on their way are dropped
  state.requestSeq += 1;
  state.trendSeq += 1;
  state.me = null;
  clearBoard();
  showStatus(null);
  $("board").hidden = true;
  $("filters").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  const box = $("signin-reason");
  box.className = `signin-reason${error ? " error" : ""}`;
  box.textContent = reason;
  $("admin-key").value = "";
  $("sign-in").disabled = false;
  $("admin-key").focus();
}

/** A token typed in the prompt: kept in this tab's sessionStorage, then the page signs in with it. */
function signIn() {
  const token = $("admin-key").value.trim();
  if (!token) {
    $("admin-key").focus();
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, token);
  $("admin-key").value = "";
  $("sign-in").disabled = true;
  start();
}

/** Signed in (GET /api/me answered): the dashboard, with the admin controls only for an admin. */
function showBoard() {
  const me = state.me;
  const admin = isAdmin();
  $("signin").hidden = true;
  $("sign-in").disabled = false;
  $("board").hidden = false;
  $("filters").hidden = false;
  // A reader sees no admin control at all (hidden, not disabled) and the page never asks for an
  // admin-only resource with its token: no scheduler status, no generate, backfill or job.
  $("operator").hidden = !admin;
  $("scheduler-box").hidden = !admin;
  $("columns").classList.toggle("single", !admin);
  const token = adminKey();
  $("session").hidden = false;
  $("sign-out").hidden = !token;
  $("session-who").textContent = token ? `Signed in as ${me.name} (${scopeText(me)})` : "Open service: no access token needed";
}

function scopeText(me) {
  if (me.scope !== "reader") return "admin";
  const count = (me.org_ids || []).length;
  return `reader of ${count} organization${count === 1 ? "" : "s"}`;
}

/** Empties everything the previous session read, so the next one never sees it. */
function clearBoard() {
  state.orgs = [];
  state.orgId = null;
  state.report = null;
  state.scheduler = null;
  state.summaries = [];
  state.trendsOutside = 0;
  $("org-select").replaceChildren(h("option", {}, "Loading…"));
  $("org-select").disabled = true;
  $("report-subtitle").textContent = "";
  $("report-badges").replaceChildren();
  $("empty").hidden = true;
  $("empty").replaceChildren();
  $("kpis").replaceChildren();
  $("summary").classList.remove("busy");
  $("summary").removeAttribute("aria-busy");
  delete $("summary").dataset.shown;
  $("trends").replaceChildren();
  $("trends").removeAttribute("aria-busy");
  delete $("trends").dataset.window;
  $("trends-note").textContent = "Stored daily reports";
  $("breakdowns").replaceChildren();
  clearHistory();
  $("freshness").replaceChildren();
  $("scheduler").replaceChildren();
  for (const id of ["generate-result", "backfill-result"]) $(id).replaceChildren();
  $("backfill-job").hidden = true;
  enableOperatorActions(false);
}

/**
 * Generate and backfill act on the selected organization: off until the organizations are loaded,
 * so a click while the page is still signing in is never silently ignored.
 */
function enableOperatorActions(enabled) {
  $("generate-button").disabled = !enabled;
  $("backfill-button").disabled = !enabled;
}

/** The catalogue's outline, checked before use: a malformed answer is an error, not a blank page. */
function checkedCatalog(data) {
  const ok = data && Array.isArray(data.kpis) && Array.isArray(data.breakdowns) &&
    [...data.kpis, ...data.breakdowns].every((item) => item && typeof item.key === "string");
  if (!ok) throw new ApiError(500, "The service sent a KPI catalogue this page cannot read");
  for (const item of [...data.kpis, ...data.breakdowns]) {
    if (!item.label) item.label = item.key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
  }
  return data;
}

/** The organizations, then the view the URL asks for (or the default organization's latest day). */
async function loadOrganizations() {
  const params = new URLSearchParams(location.search);
  showStatus("loading", "Loading organizations…");
  try {
    state.orgs = await api("/api/orgs"); // a reader's organizations only
  } catch (error) {
    if (!dropped(error)) showLoadError("Could not load the organizations.", error);
    return;
  }
  showStatus(null);
  if (isAdmin()) loadScheduler(); // admin only: a reader's page never asks for it
  if (!state.orgs.length) {
    fillOrgSelect();
    showEmpty(
      "No organizations yet",
      isAdmin()
        ? "Register one with POST /api/orgs, or load demo data with `python -m service demo-data`."
        : "This token reads no organization. Ask an operator for a token of yours.",
    );
    return;
  }
  const trend = Number(params.get("trend"));
  if (TREND_WINDOWS.includes(trend)) state.trendDays = trend;
  syncTrendWindow();
  const wanted = params.get("org");
  const fallback = document.querySelector('meta[name="default-org"]')?.content;
  const active = state.orgs.filter((o) => o.is_active);
  const pick = [wanted, fallback].find((id) => id && state.orgs.some((o) => o.org_id === id));
  state.orgId = pick || (active[0] || state.orgs[0]).org_id;
  fillOrgSelect();
  enableOperatorActions(true);
  if (params.get("start") && params.get("end")) {
    state.mode = "range";
    state.start = params.get("start");
    state.end = params.get("end");
  } else if (params.get("date")) {
    state.date = params.get("date");
    state.datePinned = true;
    const rev = Number(params.get("rev"));
    state.revision = Number.isInteger(rev) && rev > 0 ? rev : null;
  }
  await showOrganization();
}

/** An organization's name, with its id only when another organization has the same name. */
function orgLabel(org) {
  const twin = state.orgs.some((o) => o !== org && o.name === org.name);
  return twin ? `${org.name} (${org.org_id})` : org.name;
}

function fillOrgSelect() {
  const select = $("org-select");
  select.replaceChildren(
    ...state.orgs.map((org) =>
      h("option", { value: org.org_id }, `${orgLabel(org)}${org.is_active ? "" : " (inactive)"}`),
    ),
  );
  select.disabled = !state.orgs.length;
  if (state.orgId) select.value = state.orgId;
}

/** The selected organization: its trend data and the report of the chosen day or range. */
async function showOrganization() {
  const org = currentOrg();
  if (!org) return; // signed out meanwhile
  const tz = org.timezone;
  const yesterday = addDays(todayIn(tz), -1);
  $("date-input").max = yesterday;
  $("generate-date").max = yesterday;
  $("backfill-end").max = yesterday;
  $("end-input").max = todayIn(tz);
  $("start-input").max = todayIn(tz);
  if (!$("generate-date").value) $("generate-date").value = yesterday;
  if (!$("backfill-end").value) {
    $("backfill-end").value = yesterday;
    $("backfill-start").value = addDays(yesterday, -6);
  }
  loadTrends();
  renderScheduler();
  if (state.mode === "range") await loadRange();
  else if (state.datePinned && state.date) await loadDay(state.date, state.revision);
  else await loadLatest();
}

async function loadLatest() {
  const org = currentOrg();
  state.revision = null;
  const result = await request(() => api(`/api/reports/latest?${query({ org_id: org.org_id })}`));
  if (!result) return;
  if (result.error) {
    state.date = addDays(todayIn(org.timezone), -1);
    syncControls();
    if (result.error.status === 404) {
      // Generating is an admin action: a reader is offered the live numbers only.
      showEmpty(
        `No stored report for ${org.name} yet`,
        `Reports are stored every day by the scheduler, or by an operator${isAdmin() ? " below" : ""}.`,
        [
          isAdmin() ? ["Generate yesterday's report", () => focusGenerate(state.date)] : null,
          ["Show yesterday live", () => showRange(state.date, state.date)],
        ].filter(Boolean),
      );
    } else showProblem(result.error, loadLatest);
    return;
  }
  state.date = reportDates(result.data).start;
  renderReport(result.data, "stored");
}

/** A stored day: its current report, or its revision `revision` (an older one, from the history). */
async function loadDay(day, revision = null) {
  const org = currentOrg();
  state.mode = "day";
  state.date = day;
  state.revision = revision;
  syncControls();
  const path = `/api/reports/${encodeURIComponent(day)}?${query({ org_id: org.org_id, revision })}`;
  const result = await request(() => api(path));
  if (!result) return;
  if (result.error) {
    if (result.error.status === 404 && revision) {
      showEmpty(
        `No revision ${revision} of ${org.name}'s report for ${longDate(day)}`,
        sentence(result.error.message),
        [["Show the current revision", () => loadDay(day)]],
      );
    } else if (result.error.status === 404) {
      showEmpty(
        `No stored report for ${org.name} on ${longDate(day)}`,
        "That day has not been generated yet. An operator can generate it, or you can look at the live numbers.",
        [
          isAdmin() ? ["Generate this day", () => focusGenerate(day)] : null,
          ["Show live numbers", () => showRange(day, day)],
        ].filter(Boolean),
      );
    } else showProblem(result.error, () => loadDay(day, revision));
    return;
  }
  renderReport(result.data, "stored");
}

async function loadRange() {
  const org = currentOrg();
  syncControls();
  const params = query({ org_id: org.org_id, start_date: state.start, end_date: state.end });
  const result = await request(() => api(`/daily-report?${params}`));
  if (!result) return;
  if (result.error) showProblem(result.error, loadRange);
  else renderReport(result.data, "live");
}

function showRange(start, end) {
  state.mode = "range";
  state.revision = null;
  state.start = start;
  state.end = end;
  loadRange();
}

/**
 * Runs one report request for the summary panel: marks it busy, shows "Loading" only when the
 * answer takes a moment (no flicker on fast answers) and drops answers that arrive after a
 * newer request started. Resolves to {data} or {error}, or null when superseded.
 */
async function request(call) {
  const seq = ++state.requestSeq;
  const summary = $("summary");
  summary.classList.add("busy");
  summary.setAttribute("aria-busy", "true");
  const timer = setTimeout(() => {
    if (seq === state.requestSeq) showStatus("loading", "Loading the report…");
  }, 250);
  let result;
  try {
    result = { data: await call() };
  } catch (error) {
    result = { error };
  }
  clearTimeout(timer);
  if (seq !== state.requestSeq || dropped(result.error)) return null;
  showStatus(null);
  summary.classList.remove("busy");
  summary.removeAttribute("aria-busy");
  return result;
}

/**
 * The stored-report summaries of the trend window: the newest `trendDays` reports, of which only
 * those within `trendDays` days before the newest are kept (one stray report from years ago must
 * not stretch the axis). Answers for another organization or window than the current are dropped.
 */
async function loadTrends() {
  const orgId = state.orgId;
  const days = state.trendDays;
  const seq = ++state.trendSeq;
  $("trends").setAttribute("aria-busy", "true");
  let rows;
  try {
    rows = await api(`/api/reports?${query({ org_id: orgId, limit: days })}`);
  } catch (error) {
    if (seq !== state.trendSeq || dropped(error)) return;
    $("trends").removeAttribute("aria-busy");
    state.summaries = [];
    $("trends-note").textContent = "Stored daily reports";
    $("trends").replaceChildren(h("p", { class: "muted" }, `Trends unavailable. ${explain(error)}`));
    return;
  }
  if (seq !== state.trendSeq) return;
  $("trends").removeAttribute("aria-busy");
  const ordered = rows.slice().sort((a, b) => (a.report_date < b.report_date ? -1 : 1)); // oldest first
  const newest = ordered.length ? ordered[ordered.length - 1].report_date : null;
  const from = newest ? addDays(newest, 1 - days) : null;
  state.summaries = ordered.filter((r) => r.report_date >= from);
  state.trendsOutside = ordered.length - state.summaries.length;
  $("trends").dataset.window = `${orgId}|${days}`; // what is drawn: lets tests wait for a window
  renderTrends();
}

/** The scheduler's status: admin only, so only an admin's page asks for it. */
async function loadScheduler() {
  if (!isAdmin()) return;
  try {
    state.scheduler = await api("/api/scheduler/status");
  } catch (error) {
    if (dropped(error)) return;
    state.scheduler = {
      error: error instanceof ApiError && error.status === 403
        ? "Shown with the admin key or an admin token."
        : explain(error),
    };
  }
  renderScheduler();
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function showStatus(kind, text, { retry } = {}) {
  const box = $("status");
  box.className = `status ${kind || ""}`;
  if (!kind) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(text, retry ? h("button", { type: "button", class: "button secondary", onclick: retry }, "Try again") : null);
}

/** The summary panel without figures: a message and the actions that help. */
function showEmpty(title, text, actions = [], kind = "empty") {
  state.report = null;
  const box = $("empty");
  box.className = kind === "error" ? "empty error-state" : "empty";
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.replaceChildren(
    h("strong", {}, title),
    h("p", {}, text),
    actions.length
      ? h("div", { class: "actions" }, actions.map(([label, onclick]) =>
        h("button", { type: "button", class: "button secondary", onclick }, label)))
      : null,
  );
  box.hidden = false;
  $("summary").dataset.shown = `${state.orgId}|none`;
  $("kpis").replaceChildren();
  $("kpis").hidden = true;
  $("breakdowns").replaceChildren(h("p", { class: "muted" }, "No report to break down."));
  $("report-badges").replaceChildren();
  clearHistory();
  renderSubtitle();
  renderFreshness(null);
  highlightSelected();
  syncUrl();
}

function showProblem(error, retry) {
  const titles = { 503: "The warehouse is unavailable", 0: "The service did not answer" };
  const title = titles[error.status] || "The report could not be loaded";
  showEmpty(title, explain(error), [["Try again", retry]], "error");
}

function reportDates(report) {
  const meta = report.metadata || {};
  return {
    start: meta.report_start_date || report.date_range.start_date.slice(0, 10),
    end: meta.report_end_date || addDays(report.date_range.end_date.slice(0, 10), -1),
  };
}

function renderSubtitle() {
  const org = currentOrg();
  let period = state.date ? longDate(state.date) : "";
  if (state.mode === "range") {
    period = state.start === state.end
      ? longDate(state.start)
      : `${longDate(state.start)} – ${longDate(state.end)} (${daysBetween(state.start, state.end) + 1} days)`;
  }
  const isRange = state.mode === "range" && state.start !== state.end;
  $("report-title").textContent = isRange ? "Key figures for the range" : "Key figures for the day";
  $("report-subtitle").textContent = [org && org.name, period, org && org.timezone].filter(Boolean).join(" · ");
}

function renderReport(report, source) {
  state.report = report;
  const dates = reportDates(report);
  if (source === "stored") state.date = dates.start;
  syncControls();
  $("empty").hidden = true;
  $("empty").replaceChildren();
  renderSubtitle();

  const badges = [h("span", { class: "badge source" }, source === "stored" ? "Stored report" : "Live from the marts")];
  if (source === "stored") {
    badges.push(report.stale
      ? h("span", { class: "badge stale" }, "Stale: the data changed since it was generated")
      : h("span", { class: "badge fresh" }, "Up to date"));
  }
  const anomalies = anomaliesByKpi(report);
  const unusual = [...anomalies.keys()].filter((key) => state.catalog.kpis.some((k) => k.key === key)).length;
  if (unusual) {
    badges.push(h("span", {
      class: "badge anomaly", title: "KPIs far from their usual value for this weekday: marked on their cards",
    }, `${unusual} unusual KPI${unusual === 1 ? "" : "s"}`));
  }
  $("report-badges").replaceChildren(...badges);

  renderKpis(report, anomalies);
  renderBreakdowns(report.breakdowns || {});
  // What is on screen, in one attribute: lets tests (and scripts) wait for a given view.
  $("summary").dataset.shown = `${state.orgId}|${dates.start}|${dates.end}|${source}`;
  renderFreshness(report, source);
  highlightSelected();
  syncUrl();
  if (source === "stored") loadHistory(report, dates.start);
  else clearHistory();
}

/**
 * One card per catalogue KPI, in catalogue order; a KPI the report lacks has no card. Under the
 * figures: the comparisons with earlier periods and the anomaly flags, when the report has them
 * (stored reports from before they existed have neither, and show neither).
 */
function renderKpis(report, anomalies = new Map()) {
  const kpis = report.kpis || {};
  const cards = [];
  for (const kpi of state.catalog.kpis) {
    const raw = kpis[kpi.key];
    if (raw === undefined) continue; // e.g. a stored report from before the KPI was added
    const { number, unit, detail } = kpiFigures(kpi, raw, report);
    const flags = anomalies.get(kpi.key) || [];
    const direction = flags.length ? flags[flags.length - 1].direction : null;
    cards.push(
      h("li", {
        class: `kpi${kpi.primary ? " primary" : ""}${flags.length ? " anomalous" : ""}`,
        "data-kpi": kpi.key,
        "data-anomaly": direction,
      },
      h("span", { class: "kpi-label", id: `kpi-${kpi.key}`, title: kpi.description || null }, kpi.label),
      h("span", { class: "kpi-value" },
        h("span", { class: "kpi-number" }, number),
        unit ? h("span", { class: "unit" }, ` ${unit}`) : null),
      h("span", { class: "kpi-detail" }, detail),
      comparisonLine(kpi, report),
      flags.map((flag) => anomalyMarker(kpi, flag))),
    );
  }
  $("kpis").replaceChildren(...cards);
  $("kpis").hidden = false;
}

// ---- comparisons and anomaly flags on the cards ----------------------------------------------

const COMPARISONS = ["previous_day", "previous_week"]; // the report's `comparisons` of each KPI
const signFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero",
});
const zFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** A signed number with a real minus sign (read as "minus", and as wide as the plus). */
const signed = (text) => text.replace(/^-/, "\u2212");

/** The earlier period a comparison is against: its first and last local day, and a short name. */
function comparedPeriod(name, report) {
  const { start, end } = reportDates(report);
  const length = daysBetween(start, end) + 1;
  const back = name === "previous_day" ? length : 7;
  const period = { start: addDays(start, -back), end: addDays(end, -back) };
  if (length === 1) {
    const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short", timeZone: "UTC" })
      .format(new Date(`${period.start}T00:00:00Z`));
    period.name = name === "previous_day" ? "previous day" : `previous ${weekday}`;
  } else {
    period.name = name === "previous_day" ? `previous ${length} days` : "same days a week earlier";
  }
  period.dates = period.start === period.end
    ? longDate(period.start)
    : `${longDate(period.start)} – ${longDate(period.end)}`;
  return period;
}

/**
 * A change as read on a card: percentages in percentage points ("+1.20 pts"), counts and other
 * numbers with their relative change ("+3 (+5.41%)"), "no change" for 0.
 */
function deltaText(kpi, entry) {
  if (entry.delta === 0) return "no change";
  const relative = isValue(entry.delta_percent) ? ` (${signed(signFormat.format(entry.delta_percent))}%)` : "";
  if (isPercentLike(kpi)) return `${signed(signFormat.format(entry.delta))} pts`;
  const sign = entry.delta > 0 ? "+" : "\u2212";
  if (kpi.format === "int") return `${sign}${fmtInt(Math.abs(entry.delta))}${relative}`;
  return `${sign}${fmtDec(Math.abs(entry.delta))}${kpi.unit ? ` ${kpi.unit}` : ""}${relative}`;
}

/** The card's line of comparisons: "+3 (+5.41%) vs previous day · — vs previous Tue". */
function comparisonLine(kpi, report) {
  const entries = report.comparisons?.[kpi.key];
  if (!entries || typeof entries !== "object") return null;
  const parts = COMPARISONS.filter((name) => name in entries).map((name) => {
    const entry = entries[name];
    const period = comparedPeriod(name, report);
    const known = entry && isValue(entry.delta);
    const direction = !known || entry.delta === 0 ? "same" : entry.delta > 0 ? "up" : "down";
    return h("span", { class: `delta ${direction}`, "data-compare": name, title: comparisonTitle(kpi, entry, period) },
      direction === "same" ? null : h("span", { class: "delta-arrow", "aria-hidden": "true" }, direction === "up" ? "▲" : "▼"),
      h("span", { class: "delta-value" }, known ? deltaText(kpi, entry) : "—"),
      ` vs ${period.name}`);
  });
  if (!parts.length) return null;
  // One comparison a line; the separator only keeps them apart when read aloud or copied.
  const joined = parts.flatMap((part, i) => (i ? [h("span", { class: "visually-hidden" }, "; "), part] : [part]));
  return h("span", { class: "kpi-compare" }, joined);
}

/** The tooltip of one comparison: which days, the earlier value, and why there is none. */
function comparisonTitle(kpi, entry, period) {
  const against = `Against the ${period.name} (${period.dates})`;
  if (!entry) {
    const min = state.catalog.comparison_min_calls;
    const few = isValue(min) ? `fewer than ${fmtInt(min)} calls` : "too few calls";
    return `${against}: no comparison, as a day of it has no data or it had ${few}.`;
  }
  if (!isValue(entry.delta)) return `${against}: no comparison, as one of the two has no value.`;
  const then = `${against}: ${fmtKpiUnit(kpi, entry.value)} then`;
  if (entry.delta === 0) return `${then}, the same as now.`;
  return `${then}; change: ${deltaText(kpi, entry)}.`;
}

/** The report's anomaly flags by KPI key (several per KPI in a range report, one per day). */
function anomaliesByKpi(report) {
  const found = new Map();
  for (const item of Array.isArray(report.anomalies) ? report.anomalies : []) {
    if (!item || typeof item.kpi !== "string") continue;
    if (!found.has(item.kpi)) found.set(item.kpi, []);
    found.get(item.kpi).push(item);
  }
  return found;
}

/** "Unusually low: 6.10% vs usual 15.30%, z = 4.2": text, so it never depends on colour. */
function anomalyMarker(kpi, flag) {
  const high = flag.direction === "up";
  const when = flag.date ? ` on ${longDate(flag.date)}` : "";
  const z = isValue(flag.z)
    ? `z = ${signed(zFormat.format(flag.z))}`
    : "the usual value never varies";
  return h("span", {
    class: `kpi-anomaly ${high ? "up" : "down"}`,
    title: "Far from this KPI's usual value: the median of the same weekday over the previous weeks. " +
      "z is the robust z-score (distance from the median in median absolute deviations).",
  },
  h("span", { class: "anomaly-icon", "aria-hidden": "true" }, "!"),
  `Unusually ${high ? "high" : "low"}${when}: ${fmtKpiUnit(kpi, flag.value)} vs usual ${fmtKpiUnit(kpi, flag.baseline_median)}, ${z}`);
}

/**
 * A card's number, unit and the line under it, from the KPI's format alone:
 * - share: the percentage, and "count of denominator" from the nested object (`object_keys`);
 * - percent: the rate, and "of N" when its denominator is itself a KPI of the report;
 * - int: "of N calls" against total_calls, or the period's daily average for total_calls itself;
 * - decimal: "over N calls" against total_calls.
 * The denominator is named after the catalogue KPI of that key ("classified calls"). A ratio
 * with a zero denominator has no value (null, shown as "—"), which is not the same as 0.
 */
function kpiFigures(kpi, raw, report) {
  const kpis = report.kpis;
  const total = typeof kpis.total_calls === "number" && kpi.key !== "total_calls" ? kpis.total_calls : null;
  const noun = denominatorNoun(kpi);
  let number;
  let unit = kpi.unit || "";
  let detail;
  if (kpi.format === "share" || (raw !== null && typeof raw === "object")) {
    const keys = kpi.object_keys || { count: "count", denominator: "total_calls", percentage: "percentage" };
    const share = raw || {};
    number = fmtPct(share[keys.percentage]);
    unit = "";
    detail = `${fmtInt(share[keys.count])} of ${fmtInt(share[keys.denominator])}${noun ? ` ${noun}` : ""}`;
    if (number === "—" && noun) detail = `No ${noun}`;
    return { number, unit, detail };
  }
  number = fmtKpi(kpi, raw);
  if (kpi.format === "int") {
    detail = total !== null ? `of ${fmtInt(total)} calls` : perDay(raw, report);
  } else if (kpi.format === "percent") {
    unit = "";
    const base = kpi.denominator ? kpis[kpi.denominator] : undefined;
    if (noun && typeof base === "number") detail = number === "—" ? `No ${noun}` : `of ${fmtInt(base)} ${noun}`;
    else detail = number === "—" ? "No value for this period" : perDay(null, report);
  } else if (total !== null) {
    detail = number === "—" ? "No calls" : `over ${fmtInt(total)} calls`;
  } else {
    detail = number === "—" ? "No value for this period" : perDay(null, report);
  }
  if (number === "—") unit = "";
  return { number, unit, detail };
}

/** What a ratio KPI divides by, in words: the label of the catalogue KPI of that key. */
function denominatorNoun(kpi) {
  if (!kpi.denominator) return "";
  const named = state.catalog.kpis.find((k) => k.key === kpi.denominator);
  return named ? lowerFirst(named.label) : kpi.denominator.replaceAll("_", " ");
}

/** The period's length, and the daily average of `value` when it spans several days. */
function perDay(value, report) {
  const { start, end } = reportDates(report);
  const days = daysBetween(start, end) + 1;
  if (days === 1) return "on this day";
  if (typeof value !== "number") return `over ${days} days`;
  return `over ${days} days, ${fmtInt(Math.round(value / days))} a day`;
}

/** One section per catalogue breakdown, in catalogue order; one the report lacks has none. */
function renderBreakdowns(breakdowns) {
  const present = state.catalog.breakdowns.filter((b) => Array.isArray(breakdowns[b.key]));
  const blocks = present.map((breakdown) => {
    const items = breakdowns[breakdown.key];
    const title = breakdown.label;
    const id = `breakdown-${breakdown.key}`;
    if (!items.length) {
      return h("div", { class: "breakdown" }, h("h3", { id }, title), h("p", { class: "muted" }, "No classified calls."));
    }
    const groups = groupVariants(items);
    const max = Math.max(...groups.map((g) => g.count), 1);
    const rows = groups.map((group, index) => {
      const fill = h("div", { class: "bar-fill" });
      fill.style.width = `${(100 * group.count) / max}%`; // CSSOM, allowed by the page's CSP
      return h("tr", {
        class: group.value === null ? "none" : group.variants.length > 1 ? "grouped" : null,
        hidden: index >= BREAKDOWN_ROWS,
      },
      h("th", { scope: "row" }, valueLabel(group)),
      h("td", { class: "bar-cell", "aria-hidden": "true" }, h("div", { class: "bar-track" }, fill)),
      h("td", { class: "num" }, fmtInt(group.count)),
      h("td", { class: "num" }, fmtPct(group.percentage)));
    });
    const table = h("table", { "aria-labelledby": id },
      h("colgroup", {},
        h("col", { class: "col-value" }), h("col", { class: "col-bar" }),
        h("col", { class: "col-count" }), h("col", { class: "col-share" })),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Share")),
        h("th", { scope: "col", class: "num" }, "Calls"),
        h("th", { scope: "col", class: "num" }, "Share"))),
      h("tbody", {}, rows));
    const more = groups.length > BREAKDOWN_ROWS
      ? h("button", {
        type: "button", class: "link-button", "aria-expanded": "false",
        onclick: (event) => {
          const open = event.target.getAttribute("aria-expanded") !== "true";
          rows.forEach((row, index) => { row.hidden = !open && index >= BREAKDOWN_ROWS; });
          event.target.setAttribute("aria-expanded", String(open));
          event.target.textContent = open ? "Show fewer" : `Show all ${groups.length} values`;
        },
      }, `Show all ${groups.length} values`)
      : null;
    return h("div", { class: "breakdown" }, h("h3", { id }, title), table, more);
  });
  $("breakdowns").replaceChildren(...blocks);
}

/**
 * Breakdown items grouped by spelling: values that differ only by case or surrounding spaces
 * ("success", " success", "Success") make one row whose count is the sum, and which keeps each
 * raw spelling with its own count. The null value ("no value") is never merged with anything.
 * Groups are ordered by count (largest first), ties in the order the service sent them.
 */
function groupVariants(items) {
  const groups = [];
  const byKey = new Map();
  for (const item of items) {
    const key = item.value === null || item.value === undefined ? null : String(item.value).trim().toLowerCase();
    let group = key === null ? null : byKey.get(key);
    if (!group) {
      group = { value: key === null ? null : item.value, count: 0, percentage: null, variants: [] };
      groups.push(group);
      if (key !== null) byKey.set(key, group);
    }
    group.count += item.count;
    if (isValue(item.percentage)) {
      group.percentage = Math.round(((group.percentage || 0) + item.percentage) * 100) / 100;
    }
    group.variants.push(item);
  }
  for (const group of groups) {
    // The group is named after its most common spelling.
    if (group.value !== null) group.value = group.variants.reduce((a, b) => (b.count > a.count ? b : a)).value;
  }
  return groups
    .map((group, index) => ({ group, index }))
    .sort((a, b) => b.group.count - a.group.count || a.index - b.index)
    .map(({ group }) => group);
}

/**
 * A breakdown value as read: TRANSFER_SUCCEEDED becomes "Transfer succeeded", so it wraps at word
 * boundaries only; the raw value stays in the tooltip. Values of several spellings carry a
 * "variants" line that lists each raw spelling (quoted, so surrounding spaces show) and its count.
 */
function valueLabel(group) {
  if (group.value === null) return "No value";
  const raw = String(group.value);
  const label = humanise(raw);
  if (group.variants.length === 1) {
    return h("span", { class: "value-label", title: label === raw ? null : raw }, label);
  }
  const spellings = group.variants.map((v) => `${JSON.stringify(String(v.value))} ${fmtInt(v.count)}`);
  return h("span", { class: "value-group" },
    h("span", { class: "value-label", title: `Spelled ${spellings.join(", ")}` }, label),
    h("span", { class: "variants" },
      h("span", { class: "variants-marker" }, `${group.variants.length} variants`),
      group.variants.map((v) => h("span", { class: "variant" },
        h("code", {}, JSON.stringify(String(v.value))), " ", h("span", { class: "variant-count" }, fmtInt(v.count))))));
}

/** "TRANSFER_SUCCEEDED" → "Transfer succeeded", "carrier_asked" → "Carrier asked"; "iPhone" stays. */
function humanise(raw) {
  let text = raw.trim().replace(/_+/g, " ").replace(/\s+/g, " ");
  if (!text) return "(blank)";
  if (/[A-Z]/.test(text) && text === text.toUpperCase()) text = text.toLowerCase();
  return /^[a-z][^\sA-Z]*(\s|$)/.test(text) ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

function renderFreshness(report, source) {
  const list = $("freshness");
  if (!report) {
    list.replaceChildren(h("dt", {}, "Report"), h("dd", {}, "None shown"));
    return;
  }
  const meta = report.metadata || {};
  const tz = report.date_range?.tz;
  const items = [
    ["Source", source === "stored" ? "Stored daily report (a snapshot)" : "Live query of the marts"],
    [source === "stored" ? "Report generated" : "Computed", instant(meta.generated_at, tz)],
    ["Marts refreshed", instant(meta.mart_refreshed_at, tz)],
  ];
  if (source === "stored") {
    const regenerate = isAdmin()
      ? "Regenerate it with “Replace a stored report”."
      : "An operator can regenerate it.";
    items.push(["Status", report.stale
      ? `Stale: the marts changed after this report was generated. ${regenerate}`
      : "Up to date with the marts"]);
  }
  if (meta.metrics_version) items.push(["Metrics version", h("code", {}, String(meta.metrics_version).slice(0, 12))]);
  list.replaceChildren(...items.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function renderScheduler() {
  const list = $("scheduler");
  const status = state.scheduler;
  if (!status) {
    list.replaceChildren(h("dt", {}, "State"), h("dd", {}, "Loading…"));
    return;
  }
  if (status.error) {
    list.replaceChildren(h("dt", {}, "State"), h("dd", {}, `Unknown. ${status.error}`));
    return;
  }
  const org = currentOrg();
  const mine = (status.organizations || []).find((o) => org && o.org_id === org.org_id);
  const tz = org?.timezone;
  const stateText = !status.enabled ? "Disabled (reports are generated by hand)" : status.running ? "Running" : "Stopped";
  const items = [
    ["State", stateText],
    ["Daily run", `${status.daily_at} in each organization's timezone`],
  ];
  if (status.enabled) items.push(["Mart refresh", `every ${status.refresh_interval_minutes} minutes`]);
  if (mine) {
    items.push(["Next run", instant(mine.next_run, tz)]);
    items.push(["Last run", mine.last_run_at
      ? h("span", {}, instant(mine.last_run_at, tz), ` — ${mine.last_result || "?"}`,
        mine.last_report_date ? ` (${mine.last_report_date})` : "")
      : "none since the service started"]);
  }
  if (status.last_refresh) {
    const r = status.last_refresh;
    items.push(["Last refresh", h("span", {}, instant(r.at, tz), ` — ${r.result}${r.error ? `: ${r.error}` : ""}`)]);
  }
  list.replaceChildren(...items.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

// ---- revisions of a stored day --------------------------------------------------------------

const REASONS = {
  scheduled: "Scheduled (the daily run)",
  manual: "Manual (generated by an operator)",
  backfill: "Backfill",
  restated: "Restated (its data changed)",
};
const DIFF_ROWS = 25; // changes listed before "Show all"

/** Hides the revision history and the older-revision notice (a live view, an empty state). */
function clearHistory() {
  state.historySeq += 1;
  state.revisions = [];
  $("history").hidden = true;
  $("history-body").replaceChildren();
  $("revision-notice").hidden = true;
  $("revision-notice").replaceChildren();
  delete $("history").dataset.shown;
}

/**
 * The shown stored day's revisions. One revision: a note in the freshness list only. Several: the
 * history (revision, when, why, stale), the changes against another revision, and a notice when
 * the one shown is not the current one. Answers about a report no longer shown are dropped.
 */
async function loadHistory(report, day) {
  const org = currentOrg();
  // Another day: its predecessor's history goes at once (the same day's stays until replaced).
  if (!($("history").dataset.shown || "").startsWith(`${org.org_id}|${day}|`)) clearHistory();
  $("revision-notice").hidden = true;
  const seq = ++state.historySeq;
  let revisions;
  try {
    revisions = await api(`/api/reports/${encodeURIComponent(day)}/revisions?${query({ org_id: org.org_id })}`);
  } catch (error) {
    if (seq !== state.historySeq || dropped(error)) return;
    $("history").hidden = false;
    $("history-body").replaceChildren(h("p", { class: "muted" }, `Revision history unavailable. ${explain(error)}`));
    return;
  }
  if (seq !== state.historySeq) return;
  state.revisions = revisions;
  const shown = report.revision || revisions[revisions.length - 1]?.revision;
  renderRevisionNote(shown);
  if (revisions.length < 2) {
    $("history").hidden = true;
    $("history").dataset.shown = `${org.org_id}|${day}|${shown}|${revisions.length}`;
    return;
  }
  renderHistory(day, shown);
  const others = revisions.filter((r) => r.revision !== shown);
  const base = others.filter((r) => r.revision < shown).pop() || others[others.length - 1];
  await loadDiff(day, shown, base.revision, seq);
  if (seq === state.historySeq) $("history").dataset.shown = `${org.org_id}|${day}|${shown}|${revisions.length}`;
}

const currentRevision = () => state.revisions[state.revisions.length - 1];

/** The revision in the freshness list, and the notice and badge of an older revision. */
function renderRevisionNote(shown) {
  const count = state.revisions.length;
  const latest = currentRevision();
  const older = latest && shown < latest.revision;
  let text = `${shown} of ${count}`;
  if (count === 1) text = `${shown} (the only one)`;
  else text += older ? " (an older revision)" : " (the current one; history below)";
  $("freshness").append(h("dt", {}, "Revision"), h("dd", { id: "revision-fact" }, text));
  const notice = $("revision-notice");
  if (!older) {
    notice.hidden = true;
    notice.replaceChildren();
    return;
  }
  const mine = state.revisions.find((r) => r.revision === shown);
  $("report-badges").append(h("span", { class: "badge older" }, `Older revision ${shown} of ${count}`));
  notice.replaceChildren(
    h("strong", {}, `You are looking at revision ${shown} of ${count}, an older revision.`),
    " ",
    mine ? h("span", {}, "Stored ", instant(mine.generated_at, currentOrg()?.timezone),
      ` (${lowerFirst(REASONS[mine.reason] || mine.reason)}). `) : null,
    `The current report is revision ${latest.revision}.`,
    h("button", { type: "button", class: "button secondary small", onclick: () => loadDay(state.date) },
      "Show the current revision"),
  );
  notice.hidden = false;
}

/** The table of revisions, newest first, each but the shown one with a button that opens it. */
function renderHistory(day, shown) {
  const tz = currentOrg()?.timezone;
  const latest = currentRevision().revision;
  const rows = state.revisions.slice().reverse().map((r) => h("tr", {
    class: r.revision === shown ? "shown" : null, "data-revision": r.revision,
    "aria-current": r.revision === shown ? "true" : null,
  },
  h("th", { scope: "row" }, `${r.revision}${r.revision === latest ? " (current)" : ""}`),
  h("td", {}, instant(r.generated_at, tz)),
  h("td", {}, REASONS[r.reason] || r.reason),
  h("td", {}, r.stale ? h("span", { class: "badge stale" }, "Stale") : "Up to date"),
  h("td", {}, r.revision === shown
    ? h("span", { class: "muted" }, "Shown")
    : h("button", { type: "button", class: "link-button", onclick: () => openRevision(day, r.revision) },
      "Show", h("span", { class: "visually-hidden" }, ` revision ${r.revision}`)))));
  const choices = state.revisions.filter((r) => r.revision !== shown);
  const select = h("select", { id: "diff-base", onchange: (event) => loadDiff(day, shown, Number(event.target.value), state.historySeq) },
    choices.map((r) => h("option", { value: r.revision }, `Revision ${r.revision}`)));
  $("history-body").replaceChildren(
    h("div", { class: "table-scroll" },
      h("table", { class: "revisions", "aria-labelledby": "history-title" },
        h("thead", {}, h("tr", {},
          ["Revision", "Stored", "Reason", "Status", "Open"].map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, rows))),
    h("div", { class: "diff-head" },
      h("h3", { id: "diff-title" }, "Changes"),
      h("div", { class: "field inline-field" }, h("label", { for: "diff-base" }, "Compare with"), select)),
    h("div", { id: "diff", "aria-live": "polite" }),
  );  $("history").hidden = false;
}

/** Opens revision `revision` of the shown day (the newest is the current report). */
function openRevision(day, revision) {
  state.datePinned = true;
  loadDay(day, revision === currentRevision()?.revision ? null : revision);
}

/** What changed between the shown revision and `other`, always read from the older to the newer. */
async function loadDiff(day, shown, other, seq) {
  const from = Math.min(shown, other);
  const to = Math.max(shown, other);
  $("diff-base").value = String(other);
  $("diff-title").textContent = `Changes from revision ${from} to revision ${to}`;
  const box = $("diff");
  box.setAttribute("aria-busy", "true");
  let diff;
  try {
    diff = await api(`/api/reports/${encodeURIComponent(day)}/diff?${query({ org_id: state.orgId, from, to })}`);
  } catch (error) {
    if (seq !== state.historySeq || dropped(error)) return;
    box.removeAttribute("aria-busy");
    box.replaceChildren(h("p", { class: "muted" }, `The changes could not be loaded. ${explain(error)}`));
    return;
  }
  if (seq !== state.historySeq) return;
  box.removeAttribute("aria-busy");
  box.dataset.pair = `${from}|${to}`;
  box.replaceChildren(...renderChanges(diff.changes || []));
}

/** The changes as a list ("Total calls: 271 → 274"), the first DIFF_ROWS, then a "Show all". */
function renderChanges(changes) {
  if (!changes.length) {
    return [h("p", { class: "no-changes" }, "No figure changed: both revisions have the same numbers.")];
  }
  const items = changes.map((change, index) => {
    const { what, format } = describePath(change.path);
    return h("li", { hidden: index >= DIFF_ROWS, title: change.path },
      h("span", { class: "change-what" }, what), ": ",
      h("span", { class: "change-values" },
        h("span", { class: "change-from" }, format(change.from)),
        h("span", { "aria-hidden": "true" }, " → "),
        h("span", { class: "visually-hidden" }, " changed to "),
        h("span", { class: "change-to" }, format(change.to))));
  });
  const list = h("ul", { class: "changes" }, items);
  const count = h("p", { class: "muted" }, `${changes.length} value${changes.length === 1 ? "" : "s"} changed.`);
  const more = changes.length > DIFF_ROWS
    ? h("button", {
      type: "button", class: "link-button", "aria-expanded": "false",
      onclick: (event) => {
        const open = event.target.getAttribute("aria-expanded") !== "true";
        items.forEach((item, index) => { item.hidden = !open && index >= DIFF_ROWS; });
        event.target.setAttribute("aria-expanded", String(open));
        event.target.textContent = open ? "Show fewer" : `Show all ${changes.length} changes`;
      },
    }, `Show all ${changes.length} changes`)
    : null;
  return [count, list, more].filter(Boolean);
}

/**
 * A diff path in words, with the formatter of its values: `kpis.total_calls` reads "Total calls",
 * `breakdowns.call_stage[TRANSFER_SUCCEEDED].count` "Call stage · Transfer succeeded (calls)",
 * `comparisons.success_rate_percent.previous_day.delta` "Success rate vs previous day (change)",
 * `anomalies[success_rate_percent].z` "Success rate, unusual value (z)". Unknown paths stay as sent.
 */
function describePath(path) {
  const parts = splitPath(path);
  const plain = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? fmtNumber(v) : String(v));
  const kpiOf = (key) => state.catalog.kpis.find((k) => k.key === key);
  const [section, ...rest] = parts;
  if (section.name === "kpis" && rest.length && kpiOf(rest[0].name)) {
    const kpi = kpiOf(rest[0].name);
    if (rest.length === 1) return { what: kpi.label, format: (v) => fmtKpiUnit(kpi, v) };
    const field = rest[1].name;
    const keys = kpi.object_keys || {};
    if (field === keys.percentage) return { what: `${kpi.label} (share)`, format: fmtPct };
    if (field === keys.count) return { what: `${kpi.label} (count)`, format: fmtInt };
    if (field === keys.denominator) return { what: `${kpi.label} (out of)`, format: fmtInt };
  }
  if (section.name === "breakdowns" && rest.length === 2) {
    const breakdown = state.catalog.breakdowns.find((b) => b.key === rest[0].name);
    const value = rest[0].label === "null" ? "No value" : humanise(rest[0].label ?? "");
    const field = rest[1].name;
    return {
      what: `${breakdown ? breakdown.label : rest[0].name} · ${value} (${field === "count" ? "calls" : field === "percentage" ? "share" : field})`,
      format: field === "percentage" ? fmtPct : field === "count" ? fmtInt : plain,
    };
  }
  if (section.name === "comparisons" && rest.length >= 2 && kpiOf(rest[0].name)) {
    const kpi = kpiOf(rest[0].name);
    const period = rest[1].name === "previous_day" ? "previous day" : rest[1].name === "previous_week" ? "a week earlier" : rest[1].name;
    const field = rest[2]?.name;
    const names = { value: "its value", delta: "change", delta_percent: "change %" };
    const formats = {
      value: (v) => fmtKpiUnit(kpi, v),
      delta: (v) => (isValue(v) ? deltaText(kpi, { delta: v, delta_percent: null }) : "—"),
      delta_percent: (v) => (isValue(v) ? `${signed(signFormat.format(v))}%` : "—"),
    };
    const format = formats[field] || plain;
    return { what: `${kpi.label} vs ${period}${field ? ` (${names[field] || field})` : ""}`, format };
  }
  if (section.name === "anomalies" && section.label && rest.length === 1) {
    const [date, key] = section.label.includes(" ") ? section.label.split(" ") : [null, section.label];
    const kpi = kpiOf(key);
    const field = rest[0].name;
    const names = { value: "value", baseline_median: "usual value", z: "z", direction: "direction" };
    return {
      what: `${kpi ? kpi.label : key}, unusual value${date ? ` on ${longDate(date)}` : ""} (${names[field] || field})`,
      format: kpi && (field === "value" || field === "baseline_median") ? (v) => fmtKpiUnit(kpi, v) : plain,
    };
  }
  return { what: path, format: plain };
}

/** A dotted diff path into its parts: `name` and the `[label]` of a list item (labels may hold dots). */
function splitPath(path) {
  const parts = [];
  for (const match of path.matchAll(/([^.[\]]*)(?:\[([^\]]*)\])?(?:\.|$)/g)) {
    if (match[0] === "") break;
    parts.push({ name: match[1], label: match[2] });
  }
  return parts.length ? parts : [{ name: path }];
}

const fmtNumber = (v) => (Number.isInteger(v) ? fmtInt(v) : fmtDec(v));

// ---- trend charts ----------------------------------------------------------------------------

/**
 * The trend charts the catalogue declares: one per distinct `trend` title, in the order of first
 * appearance, with the KPIs of that title as series (read from the stored-report summaries by
 * their `summary_key`). Bars when every series is a count, lines otherwise; a percent axis when
 * every series is a percentage.
 */
function buildTrends(kpis) {
  const byTitle = new Map();
  for (const kpi of kpis) {
    if (!kpi.trend || !kpi.summary_key) continue;
    if (!byTitle.has(kpi.trend)) byTitle.set(kpi.trend, []);
    byTitle.get(kpi.trend).push(kpi);
  }
  return [...byTitle].map(([title, members]) => ({
    title,
    type: members.every((k) => k.format === "int") ? "bars" : "lines",
    axis: members.every(isPercentLike) ? fmtAxisPct : fmtAxis,
    series: members.map((kpi, index) => ({
      key: kpi.summary_key,
      name: kpi.label,
      short: lowerFirst(kpi.label),
      format: (value) => fmtKpiUnit(kpi, value),
      style: index ? ` series-${Math.min(index + 1, SERIES_STYLES)}` : "",
    })),
  }));
}

const SERIES_STYLES = 4; // .series-2 … .series-4 in dashboard.css; later series share the last

const isValue = (v) => typeof v === "number" && Number.isFinite(v);

function renderTrends() {
  const rows = state.summaries;
  const box = $("trends");
  if (!rows.length) {
    $("trends-note").textContent = "Stored daily reports";
    box.replaceChildren(h("p", { class: "muted" }, "No stored reports yet: trends appear once days are generated."));
    return;
  }
  const first = rows[0].report_date;
  const last = rows[rows.length - 1].report_date;
  const outside = state.trendsOutside
    ? ` (${state.trendsOutside} older report${state.trendsOutside === 1 ? "" : "s"} outside the window not drawn)`
    : "";
  $("trends-note").textContent =
    `${rows.length} stored daily report${rows.length === 1 ? "" : "s"}, ${longDate(first)} – ${longDate(last)}${outside}`;
  // One slot per calendar day, so a day without a stored report shows as a gap, not as a jump.
  const days = [];
  for (let d = first; d <= last; d = addDays(d, 1)) days.push(d);
  const byDate = new Map(rows.map((r) => [r.report_date, r]));
  if (!state.trends.length) {
    box.replaceChildren(h("p", { class: "muted" }, "The KPI catalogue declares no trend."));
    return;
  }
  box.replaceChildren(...state.trends.map((spec) => trendChart(spec, days, byDate)), trendTable(rows));
  highlightSelected();
}

/** Rounds a maximum up to 1, 2, 2.5 or 5 times a power of ten, so axis labels stay readable. */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value);
}

function trendChart(spec, days, byDate) {
  const W = 400;
  const H = 176;
  const M = { left: 44, right: 10, top: 10, bottom: 24 };
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const band = plotW / days.length;
  const xAt = (i) => M.left + band * (i + 0.5);
  const values = days.flatMap((d) => spec.series.map((s) => byDate.get(d)?.[s.key])).filter(isValue);
  const top = niceMax(Math.max(0, ...values));
  const yAt = (v) => M.top + plotH - (plotH * v) / top;
  const withYear = days[0].slice(0, 4) !== days[days.length - 1].slice(0, 4);

  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": chartLabel(spec, days, byDate) });
  chart.append(svg("g", { class: "bands" }));
  for (const tick of [0, top / 2, top]) {
    chart.append(
      svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: yAt(tick), y2: yAt(tick) }),
      svg("text", { class: "axis", x: M.left - 6, y: yAt(tick) + 4, "text-anchor": "end" }, spec.axis(tick)),
    );
  }
  const labelled = new Set([0, Math.floor((days.length - 1) / 2), days.length - 1]);
  for (const i of labelled) {
    const anchor = i === 0 && days.length > 1 ? "start" : i === days.length - 1 && days.length > 1 ? "end" : "middle";
    const x = days.length === 1 ? xAt(0) : i === 0 ? M.left : i === days.length - 1 ? W - M.right : xAt(i);
    chart.append(svg("text", { class: "axis x", x, y: H - 6, "text-anchor": anchor }, shortDate(days[i], withYear)));
  }
  if (spec.type === "bars") {
    // One bar per series and day, side by side within the day's slot.
    const group = Math.max(spec.series.length, Math.min(band * 0.72, 28 * spec.series.length));
    const width = group / spec.series.length;
    spec.series.forEach((series, j) => {
      days.forEach((day, i) => {
        const value = byDate.get(day)?.[series.key];
        if (!isValue(value)) return;
        chart.append(
          svg("rect", {
            class: `bar${series.style}`, "data-date": day, x: xAt(i) - group / 2 + j * width, y: yAt(value),
            width: Math.max(1, spec.series.length > 1 ? width - 1 : width),
            height: Math.max(0, M.top + plotH - yAt(value)), rx: 2, onclick: () => pickDay(day),
          }, svg("title", {}, `${longDate(day)}: ${series.name} ${series.format(value)}`)),
        );
      });
    });
  } else {
    for (const series of spec.series) {
      // Break the line where a day has no stored report or no rate (no classified calls).
      let path = "";
      let pen = false;
      days.forEach((day, i) => {
        const value = byDate.get(day)?.[series.key];
        if (!isValue(value)) {
          pen = false;
          return;
        }
        path += `${pen ? "L" : "M"}${xAt(i).toFixed(1)},${yAt(value).toFixed(1)}`;
        pen = true;
      });
      chart.append(svg("path", { class: `line${series.style}`, d: path }));
      days.forEach((day, i) => {
        const value = byDate.get(day)?.[series.key];
        if (!isValue(value)) return;
        chart.append(svg("circle", {
          class: `dot${series.style}`, "data-date": day, cx: xAt(i), cy: yAt(value),
          r: days.length > 45 ? 1.6 : 2.6, onclick: () => pickDay(day),
        }, svg("title", {}, `${longDate(day)}: ${series.name} ${series.format(value)}`)));
      });
    }
  }
  chart.dataset.days = JSON.stringify(days);
  chart.dataset.band = String(band);
  chart.dataset.left = String(M.left);
  chart.dataset.top = String(M.top);
  chart.dataset.height = String(plotH);

  const legend = spec.series.length > 1
    ? h("div", { class: "legend", "aria-hidden": "true" }, spec.series.map((s) =>
      h("span", {}, h("span", { class: `swatch${spec.type === "bars" ? " block" : ""}${s.style}` }), s.name)))
    : null;
  return h("div", { class: "chart" }, h("h3", {}, spec.title), h("p", { class: "latest" }), chart, legend);
}

/** A sentence for screen readers: the range, the latest value, the lowest and the highest. */
function chartLabel(spec, days, byDate) {
  return spec.series.map((s) => {
    const points = days.map((d) => [d, byDate.get(d)?.[s.key]]).filter(([, v]) => isValue(v));
    if (!points.length) return `${s.name}: no data`;
    const vals = points.map(([, v]) => v);
    const [lastDay, lastVal] = points[points.length - 1];
    return `${s.name} from ${longDate(days[0])} to ${longDate(days[days.length - 1])}: ` +
      `latest ${s.format(lastVal)} on ${longDate(lastDay)}, lowest ${s.format(Math.min(...vals))}, ` +
      `highest ${s.format(Math.max(...vals))}.`;
  }).join(" ");
}

/** The same numbers as a table, with each day as a button: the keyboard route into the charts. */
function trendTable(rows) {
  const withYear = trendsSpanYears();
  const columns = state.trends.flatMap((spec) => spec.series);
  const body = rows.slice().reverse().map((r) => h("tr", {},
    h("th", { scope: "row" }, h("button", {
      type: "button", class: "link-button", onclick: () => pickDay(r.report_date),
    }, tableDate(r.report_date, withYear))),
    columns.map((series) => h("td", { class: "num" }, series.format(isValue(r[series.key]) ? r[series.key] : null)))));
  return h("details", { class: "data-table" },
    h("summary", {}, "Show the numbers as a table"),
    h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Daily numbers" },
      h("table", {},
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Day"),
          columns.map((series) => h("th", { scope: "col", class: "num" }, series.name)))),
        h("tbody", {}, body))));
}

/** Marks the shown day (or range) on every trend chart and says its values above each chart. */
function highlightSelected() {
  const from = state.mode === "range" ? state.start : state.date;
  const to = state.mode === "range" ? state.end : state.date;
  const byDate = new Map(state.summaries.map((r) => [r.report_date, r]));
  const last = state.summaries.length ? state.summaries[state.summaries.length - 1].report_date : "";
  document.querySelectorAll("#trends .chart").forEach((chartBox, index) => {
    const chart = chartBox.querySelector("svg");
    const spec = state.trends[index];
    const days = JSON.parse(chart.dataset.days);
    const band = Number(chart.dataset.band);
    const bands = chart.querySelector("g.bands");
    bands.replaceChildren();
    chart.querySelectorAll(".bar").forEach((bar) => {
      bar.classList.toggle("selected", from && bar.dataset.date >= from && bar.dataset.date <= to);
    });
    const inView = days.map((d, i) => [d, i]).filter(([d]) => from && d >= from && d <= to);
    if (inView.length) {
      bands.append(svg("rect", {
        class: "band", x: Number(chart.dataset.left) + band * inView[0][1], y: chart.dataset.top,
        width: band * inView.length, height: chart.dataset.height,
      }));
    }
    const row = state.mode === "day" ? byDate.get(state.date) : null;
    let note;
    if (row) {
      const many = spec.series.length > 1;
      const value = (s) => (isValue(row[s.key]) ? row[s.key] : null);
      note = `${shortDate(state.date, trendsSpanYears())}: ${spec.series.map((s) => `${s.format(value(s))}${many ? ` ${s.short}` : ""}`).join(", ")}`;
    } else if (state.mode === "range") {
      note = inView.length ? "Shaded: the selected range" : "The selected range is outside these days";
    } else {
      note = from ? `${shortDate(from, trendsSpanYears() || from.slice(0, 4) !== last.slice(0, 4))}: no stored report` : "";
    }
    chartBox.querySelector(".latest").textContent = note;
  });
}

function pickDay(day) {
  state.datePinned = true;
  loadDay(day);
  $("main").scrollIntoView({ behavior: "smooth", block: "start" });
}

// ---------------------------------------------------------------------------------------------
// Controls and URL
// ---------------------------------------------------------------------------------------------

function syncTrendWindow() {
  document.querySelectorAll('input[name="trend-window"]').forEach((radio) => {
    radio.checked = Number(radio.value) === state.trendDays;
  });
}

function syncControls() {
  $("mode-day").checked = state.mode === "day";
  $("mode-range").checked = state.mode === "range";
  $("day-field").hidden = state.mode !== "day";
  $("range-field").hidden = state.mode !== "range";
  if (state.date) $("date-input").value = state.date;
  if (state.start) $("start-input").value = state.start;
  if (state.end) $("end-input").value = state.end;
  const max = $("date-input").max;
  $("next-day").disabled = !state.date || (max && state.date >= max);
  $("prev-day").disabled = !state.date;
}

/** The URL says what is shown, so a view can be bookmarked or shared. */
function syncUrl() {
  const params = { org: state.orgId };
  if (state.trendDays !== TREND_DEFAULT) params.trend = state.trendDays;
  if (state.mode === "range") Object.assign(params, { start: state.start, end: state.end });
  else if (state.datePinned) params.date = state.date;
  if (state.mode === "day" && state.datePinned && state.revision) params.rev = state.revision;
  const search = query(params);
  history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}`);
}

function wireEvents() {
  $("org-select").addEventListener("change", (event) => {
    state.orgId = event.target.value;
    state.revision = null; // revisions are per organization and day
    showOrganization();
  });
  document.querySelectorAll('input[name="mode"]').forEach((radio) => radio.addEventListener("change", () => {
    if (radio.value === "range" && radio.checked) {
      const end = state.date || addDays(todayIn(currentOrg().timezone), -1);
      showRange(state.start && state.mode === "range" ? state.start : addDays(end, -6), end);
    } else if (radio.value === "day" && radio.checked) {
      // Back to one day: the day shown before, or else the last day of the range.
      state.mode = "day";
      const day = state.date || state.end;
      if (day) {
        state.datePinned = true;
        loadDay(day);
      } else loadLatest();
    }
  }));
  $("date-input").addEventListener("change", (event) => {
    // `change` fires once the typed date is complete and valid; an empty value means cleared.
    if (!event.target.value) return;
    state.datePinned = true;
    loadDay(event.target.value);
  });
  $("prev-day").addEventListener("click", () => {
    state.datePinned = true;
    loadDay(addDays(state.date, -1));
  });
  $("next-day").addEventListener("click", () => {
    state.datePinned = true;
    loadDay(addDays(state.date, 1));
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.orgId) return;
    if (state.mode === "day") {
      if ($("date-input").value) loadDay($("date-input").value);
      return;
    }
    const start = $("start-input").value;
    const end = $("end-input").value;
    if (!start || !end) return;
    if (end < start) {
      showEmpty("The range is backwards", `The end (${end}) is before the start (${start}).`, [], "error");
      return;
    }
    showRange(start, end);
  });
  document.querySelectorAll('input[name="trend-window"]').forEach((radio) => radio.addEventListener("change", () => {
    if (!radio.checked) return;
    state.trendDays = Number(radio.value);
    syncUrl();
    if (state.orgId) loadTrends();
  }));
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn();
  });
  $("sign-out").addEventListener("click", signOut);
  $("generate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("backfill-form").addEventListener("submit", (event) => {
    event.preventDefault();
    backfill();
  });
}

// ---------------------------------------------------------------------------------------------
// Operator actions
// ---------------------------------------------------------------------------------------------

function focusGenerate(day) {
  if (!isAdmin()) return;
  $("generate-date").value = day;
  $("operator-title").scrollIntoView({ behavior: "smooth", block: "start" });
  $("generate-button").focus({ preventScroll: true });
}

/** An action's outcome: its sentence, and buttons for what can be done next. */
function showResult(id, kind, text, actions = []) {
  const box = $(id);
  box.className = `result ${kind}`;
  const buttons = actions.map(([label, onclick]) =>
    h("button", { type: "button", class: "button secondary small", onclick }, label));
  box.replaceChildren(h("span", {}, text), ...(buttons.length ? [h("span", { class: "actions" }, buttons)] : []));
}

/**
 * Generates (or, with `force`, rebuilds) one stored day. The service answers the report and
 * whether it was skipped because that day was already stored; a refusal (400, e.g. a day before the
 * organization's first recorded call) shows the service's own message, with the way out it names.
 */
async function generate({ force = $("generate-force").checked, allowEmpty = false } = {}) {
  const org = currentOrg();
  const day = $("generate-date").value;
  if (!org || !day || !isAdmin()) return;
  const button = $("generate-button");
  button.disabled = true;
  const what = `the report of ${org.name} for ${longDate(day)}`;
  showResult("generate-result", "info", `${force ? "Regenerating" : "Generating"} ${what}…`);
  try {
    const body = { org_id: org.org_id, date: day, force };
    if (allowEmpty) body.allow_empty = true;
    const report = await api("/api/reports/generate", { method: "POST", body });
    const calls = report.kpis?.total_calls;
    const figures = isValue(calls) ? `: ${fmtInt(calls)} calls` : "";
    if (report.skipped) {
      showResult("generate-result", "notice",
        `The report of ${org.name} for ${longDate(day)} was already stored; nothing changed. ` +
        "Use “Regenerate it” (or tick “Replace a stored report”) to rebuild it from the current marts.",
        [["Regenerate it", () => generate({ force: true })]]);
    } else {
      showResult("generate-result", "", `${force ? "Regenerated and stored" : "Stored"} ${what}${figures}.`);
    }
    if (org.org_id === state.orgId) {
      // Show what was stored right away, through the same read path as any other day.
      state.datePinned = true;
      state.mode = "day";
      loadTrends();
      await loadDay(day);
    }
  } catch (error) {
    if (dropped(error)) return; // signed out: the token prompt says why
    // The service names `allow_empty` when a day comes before the first recorded call.
    const empty = error instanceof ApiError && error.status === 400 && /allow_empty/.test(error.message);
    showResult("generate-result", "error", explain(error),
      empty ? [["Store an all-zero report anyway", () => generate({ force, allowEmpty: true })]] : []);
  } finally {
    button.disabled = false;
  }
}

async function backfill() {
  const org = currentOrg();
  const start = $("backfill-start").value;
  const end = $("backfill-end").value;
  if (!org || !start || !end || !isAdmin()) return;
  const session = state.session;
  const everyOrg = $("backfill-all").checked;
  const button = $("backfill-button");
  button.disabled = true;
  showResult("backfill-result", "info", "Starting the backfill…");
  let job;
  try {
    job = await api("/api/reports/backfill", {
      method: "POST",
      body: { org_id: everyOrg ? null : org.org_id, start_date: start, end_date: end, force: $("backfill-force").checked },
    });
  } catch (error) {
    if (dropped(error)) return;
    showResult("backfill-result", "error", explain(error));
    button.disabled = false;
    return;
  }
  const who = everyOrg ? "every active organization" : org.name;
  $("backfill-job").hidden = false;
  const days = daysBetween(start, end) + 1;
  // The service runs the job in the background (202); its progress is polled until it ends.
  while (job.status === "running") {
    $("backfill-progress").value = job.progress;
    $("backfill-progress-label").textContent = `Backfill job ${job.id}: ${Math.round(job.progress * 100)}%`;
    showResult("backfill-result", "info",
      `Backfilling ${days} day${days === 1 ? "" : "s"} for ${who}: ${Math.round(job.progress * 100)}% done…`);
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    if (session !== state.session) return; // signed out meanwhile: stop polling
    try {
      job = await api(`/api/jobs/${job.id}`);
    } catch (error) {
      if (dropped(error)) return;
      showResult("backfill-result", "error", `Lost track of job ${job.id}: ${explain(error)}`);
      button.disabled = false;
      return;
    }
  }
  $("backfill-progress").value = job.progress;
  $("backfill-progress-label").textContent = `Backfill job ${job.id}: ${job.status}`;
  const counts = job.counts || {};
  const summary = `${counts.generated || 0} generated, ${counts.skipped || 0} already stored, ${counts.failed || 0} failed`;
  if (job.status === "succeeded") showResult("backfill-result", "", `Backfill job ${job.id} finished: ${summary}.`);
  else showResult("backfill-result", "error", `Backfill job ${job.id} ${job.status}: ${summary}. ${job.error || ""}`);
  button.disabled = false;
  loadTrends();
  if (state.mode === "day" && state.date && !state.report) loadDay(state.date);
}

init();
