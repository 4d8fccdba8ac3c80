// Launches Seam's official fake API (@seamapi/fake-seam-connect) for Keystay's tests.
//
// Why a launcher of our own rather than `npx fake-seam-connect --seed`:
//  - the stock CLI listens on every interface; this one binds 127.0.0.1 only;
//  - the stock seed has no lock with code constraints, battery levels, an
//    offline lock or ACS entrances, which are what Keystay's logic branches on;
//  - tests need to move the fake along (a code got set on the lock, an error,
//    an unlock event, an outage) and to restore a known state between tests,
//    which a loopback-only control endpoint provides.
//
// The API port is a small proxy in front of the fake (which listens on a private
// loopback port): it adds what the fake lacks and real Seam does (per-device rate
// limits, a lock's name_length cut, locks confirming codes, Seam's route that deletes
// an unmanaged code) and lets tests make a listing fail half-way.
//
// Environment: PORT and CONTROL_PORT (0 or unset = a free port);
// FAKE_SEAM_WATCH_STDIN=0 keeps it running when stdin is closed (manual use);
// FAKE_SEAM_AUTO_CONFIRM_MS=n: n ms after a code is created or updated the lock
// "confirms" it (status set + access_code.set_on_device), and n ms after a delete
// access_code.removed_from_device is added, as a real lock would (the demo uses it);
// FAKE_SEAM_LATENCY_MS=n delays every API answer by n ms (benchmarks; one device's
// answers alone: /devices/slow);
// FAKE_SEAM_WRITE_LIMITS=1 enforces Seam's per-device limits on code writes (10 creates,
// 10 updates, 20 deletes a minute: beyond, 429 with Retry-After), as real Seam does.
// Both can also be changed at run time through the control endpoint (/latency,
// /write_limits); /reset brings back the values the launcher started with.
// Prints one line to stdout when ready: FAKE_SEAM_READY {json}. Logs go to stderr.

import http from "node:http";
import net from "node:net";
import process from "node:process";

const HOST = "127.0.0.1";
const LOOPBACK_ADDRESSES = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

// stdout carries only the READY line, so that the parent can parse it; anything
// the fake (or a dependency) logs goes to stderr instead.
for (const level of ["log", "info", "debug"]) console[level] = console.error;

const fatal = (err) => {
  console.error("fake-seam launcher:", err?.stack ?? err);
  process.exit(1);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);

// Imported after console is redirected (static imports would run first).
const { createFake } = await import("@seamapi/fake-seam-connect");

// ---------------------------------------------------------------------------
// Seed
// ---------------------------------------------------------------------------

const WORKSPACE_ID = "seed_workspace_1";
const API_KEY = "seam_apikey1_token";
const CONNECTED_ACCOUNT_ID = "john_connected_account_id"; // the seeded August account

const SEED = {
  connected_account_id: CONNECTED_ACCOUNT_ID,
  devices: {
    // from the package's default seed
    front_door: "august_device_1",
    back_door: "august_device_2",
    bathroom_door: "schlage_device_id",
    // added by Keystay
    constrained: "keystay_lock_constrained",
    low_battery: "keystay_lock_low_battery",
    offline: "keystay_lock_offline",
  },
  // Stock devices given one more property by Keystay (see seedKeystay).
  short_names: "schlage_device_id", // name_length 14: a longer code name is cut
  backup_pool: "august_device_1", // properties.supports_backup_access_code_pool
  short_name_length: 14,
  non_lock_devices: { thermostat: "ecobee_device_1", noise_sensor: "minut_device_1" },
  acs_system_id: "keystay_acs_system",
  acs_entrances: { front: "keystay_entrance_front", garage: "keystay_entrance_garage" },
};

const batteryStatus = (level) =>
  level >= 0.85 ? "full" : level >= 0.4 ? "good" : level >= 0.1 ? "low" : "critical";

const offlineError = () => ({
  error_code: "device_offline",
  message: "Device is offline",
  is_device_error: true,
  created_at: new Date().toISOString(),
});

// What a real PIN lock looks like to the SDK: lock + access_code capabilities,
// a model, online flag, battery and the code constraints Seam reports.
function addLock(db, { id, type, name, model, manufacturer, battery, online = true, ...lock }) {
  db.addDevice({
    device_id: id,
    device_type: type,
    name,
    display_name: name,
    workspace_id: WORKSPACE_ID,
    connected_account_id: CONNECTED_ACCOUNT_ID,
    can_remotely_lock: true,
    can_remotely_unlock: true,
    can_program_online_access_codes: true,
    errors: online ? [] : [offlineError()],
    properties: {
      name,
      online,
      locked: true,
      door_open: false,
      manufacturer,
      model: { display_name: model, manufacturer_display_name: manufacturer.replace(/^./, (c) => c.toUpperCase()) },
      battery_level: battery,
      battery: { level: battery, status: batteryStatus(battery) },
      has_native_entry_events: true,
      serial_number: `SN-${id}`,
      ...lock,
    },
  });
}

function seedKeystay(db) {
  addLock(db, {
    id: SEED.devices.constrained,
    type: "yale_lock",
    name: "Garden Gate",
    model: "Yale Assure Lock 2",
    manufacturer: "yale",
    battery: 0.82,
    supported_code_lengths: [4, 5, 6],
    max_active_codes_supported: 25,
    code_constraints: [
      { constraint_type: "cannot_start_with_12" },
      { constraint_type: "no_ascending_or_descending_sequence" },
      { constraint_type: "no_triple_consecutive_ints" },
      { constraint_type: "name_length", max_length: 20 },
    ],
  });
  addLock(db, {
    id: SEED.devices.low_battery,
    type: "august_lock",
    name: "Side Door",
    model: "August Wi-Fi Smart Lock",
    manufacturer: "august",
    battery: 0.12,
    supported_code_lengths: [6],
    max_active_codes_supported: 10,
    code_constraints: [{ constraint_type: "no_zeros" }, { constraint_type: "at_least_three_unique_digits" }],
  });
  addLock(db, {
    id: SEED.devices.offline,
    type: "august_lock",
    name: "Pool House",
    model: "August Smart Lock Pro",
    manufacturer: "august",
    battery: 0.55,
    online: false,
    supported_code_lengths: [4, 5, 6, 7, 8],
    max_active_codes_supported: 50,
    code_constraints: [],
  });

  // The stock seed's Bathroom Door and Fake August Lock 1 carry no constraints; give one
  // a short name limit and the other a backup-code pool (the device count stays the same).
  // (updateDevice merges the given properties into the device's.)
  db.updateDevice({
    device_id: SEED.short_names,
    properties: {
      code_constraints: [{ constraint_type: "name_length", max_length: SEED.short_name_length }],
    },
  });
  db.updateDevice({ device_id: SEED.backup_pool, properties: { supports_backup_access_code_pool: true } });
  // addDevice gives every device lock capabilities; Seam's thermostats and noise
  // sensors have none, and devices/list (which Keystay pages through) lists them all.
  db.updateDevice({ device_id: SEED.non_lock_devices.thermostat, capabilities_supported: ["thermostat"] });
  db.updateDevice({ device_id: SEED.non_lock_devices.noise_sensor, capabilities_supported: ["noise_detection"] });

  db.addAcsSystem({
    acs_system_id: SEED.acs_system_id,
    external_type: "salto_site",
    name: "Harbour House Salto Site",
    workspace_id: WORKSPACE_ID,
    connected_account_id: CONNECTED_ACCOUNT_ID,
  });
  for (const [role, display_name] of [
    ["front", "Building Front Entrance"],
    ["garage", "Garage Gate"],
  ]) {
    const entrance = db.addAcsEntrance({ acs_system_id: SEED.acs_system_id, display_name });
    // addAcsEntrance ignores a given id; rename it so tests can refer to it.
    renameEntrance(entrance.acs_entrance_id, SEED.acs_entrances[role]);
  }
}

// ---------------------------------------------------------------------------
// Fake server
// ---------------------------------------------------------------------------

const fake = await createFake();
const db = () => fake.database.getState();
// The store is zustand + immer: setState accepts an immer producer.
const produce = (recipe) => fake.database.setState(recipe);

function renameEntrance(from, to) {
  produce((state) => {
    state.acs_entrances.find((e) => e.acs_entrance_id === from).acs_entrance_id = to;
  });
}

await fake.seed();
seedKeystay(db());

// Snapshot of the seeded data for /reset. Id counters are left out on purpose:
// ids stay unique for the whole run, so a stale id from an earlier test never
// silently matches a new object.
const dataOf = (state) =>
  Object.fromEntries(
    Object.entries(state).filter(([key, value]) => typeof value !== "function" && key !== "_counters"),
  );
const seededData = structuredClone(dataOf(db()));

async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve, reject) => probe.once("error", reject).listen({ port: 0, host: HOST }, resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

// startServer() calls server.listen(port) with no host (all interfaces) and has
// no host option, so force the loopback host while it starts.
async function startFakeOnLoopback(port, baseUrl) {
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === "number") {
      const callback = args.find((arg) => typeof arg === "function");
      return originalListen.call(this, { port: args[0], host: HOST }, callback);
    }
    return originalListen.apply(this, args);
  };
  try {
    return await fake.startServer({ port, baseUrl });
  } finally {
    net.Server.prototype.listen = originalListen;
  }
}

// The fake listens on a private loopback port; clients only ever see the proxy's
// URL, which the fake bakes into its responses (hence baseUrl).
async function startFake(baseUrl) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      const server = await startFakeOnLoopback(port, baseUrl);
      const address = server.server.address();
      if (address?.address !== HOST) throw new Error(`fake bound to ${JSON.stringify(address)}`);
      return port;
    } catch (err) {
      // A free port can be taken between probing and binding: try another.
      if (err?.code !== "EADDRINUSE" || attempt >= 5) throw err;
    }
  }
}

// ---------------------------------------------------------------------------
// API proxy: what real Seam does and the fake does not
// ---------------------------------------------------------------------------

const envMs = (name) => {
  const value = process.env[name];
  if (value == null || value === "") return null;
  const ms = Number(value);
  if (!(ms >= 0)) throw new Error(`${name} must be a number of milliseconds`);
  return ms;
};
const AUTO_CONFIRM_MS = envMs("FAKE_SEAM_AUTO_CONFIRM_MS");
const START_LATENCY_MS = envMs("FAKE_SEAM_LATENCY_MS") ?? 0;
const START_WRITE_LIMITS = ["1", "true", "yes"].includes((process.env.FAKE_SEAM_WRITE_LIMITS ?? "").toLowerCase());
let LATENCY_MS = START_LATENCY_MS;
// Seam's limits on code writes per device per minute (its docs).
const WRITE_LIMITS = { "/access_codes/create": 10, "/access_codes/update": 10, "/access_codes/delete": 20 };
const WRITE_WINDOW_MS = 60_000;

// Seam's real API deletes a code made outside the workspace at this route (the SDK's
// access_codes.unmanaged.delete); the fake (1.86.0) has no such route, so the proxy
// answers it on the fake's own data (see deleteUnmanagedCode).
const UNMANAGED_DELETE = "/access_codes/unmanaged/delete";

// Everything a test may switch on; /reset empties it all.
const tweaks = {
  rateLimits: new Map(), // device_id -> { remaining (Infinity = until cleared), retry_after }
  pageFailures: new Map(), // route -> { page, remaining }
  cursorPages: new Map(), // "route cursor" -> page number that cursor opens
  timers: new Set(), // pending auto-confirmations
  requests: new Map(), // route -> API requests received (benchmarks count Seam calls)
  writeLimits: START_WRITE_LIMITS, // enforce Seam's per-device write limits
  slow: new Map(), // device_id -> extra ms before answering about its codes
  // access_code_id -> Seam's pending_mutations on it (what Seam is still pushing to the
  // lock): the fake never reports any, so the proxy adds them to get and list answers.
  pendingMutations: new Map(),
  // Unmanaged codes the lock keeps although Seam accepted their deletion (a lock that
  // did not take the change): set through /access_codes/unmanaged/stuck.
  stuckUnmanaged: new Set(),
  writes: new Map(), // "device route" -> instants (ms) of accepted writes in the last minute
  // Requests being answered, per device and in all: how many ran side by side at most
  // (what a test of parallel workers looks at).
  inFlight: new Map(),
  maxInFlight: new Map(),
  inFlightAll: 0,
  maxInFlightAll: 0,
};

function clearTweaks() {
  tweaks.rateLimits.clear();
  tweaks.pageFailures.clear();
  tweaks.cursorPages.clear();
  clearCounts();
  for (const timer of tweaks.timers) clearTimeout(timer);
  tweaks.timers.clear();
  tweaks.writeLimits = START_WRITE_LIMITS;
  tweaks.writes.clear();
  tweaks.slow.clear();
  tweaks.pendingMutations.clear();
  tweaks.stuckUnmanaged.clear();
  LATENCY_MS = START_LATENCY_MS;
}

// What a benchmark or a test reads, then clears: requests per route, overlaps.
function clearCounts() {
  tweaks.requests.clear();
  tweaks.maxInFlight.clear();
  tweaks.maxInFlightAll = tweaks.inFlightAll;
}

function countsSnapshot() {
  return {
    requests: Object.fromEntries(tweaks.requests),
    max_in_flight: tweaks.maxInFlightAll,
    max_in_flight_per_device: Object.fromEntries(tweaks.maxInFlight),
  };
}

// Seam's per-device write limit: null when this write may go, else seconds to wait.
function takeWriteSlot(route, device_id) {
  const limit = WRITE_LIMITS[route];
  if (!tweaks.writeLimits || limit == null || device_id == null) return null;
  const key = `${device_id} ${route}`;
  const now = Date.now();
  const recent = (tweaks.writes.get(key) ?? []).filter((t) => t > now - WRITE_WINDOW_MS);
  if (recent.length >= limit) {
    tweaks.writes.set(key, recent);
    return Math.max(1, Math.ceil((recent[recent.length - limit] + WRITE_WINDOW_MS - now) / 1000));
  }
  recent.push(now);
  tweaks.writes.set(key, recent);
  return null;
}

function enter(device_id) {
  tweaks.inFlightAll += 1;
  tweaks.maxInFlightAll = Math.max(tweaks.maxInFlightAll, tweaks.inFlightAll);
  if (device_id == null) return;
  const n = (tweaks.inFlight.get(device_id) ?? 0) + 1;
  tweaks.inFlight.set(device_id, n);
  tweaks.maxInFlight.set(device_id, Math.max(tweaks.maxInFlight.get(device_id) ?? 0, n));
}

function leave(device_id) {
  tweaks.inFlightAll -= 1;
  if (device_id == null) return;
  const n = (tweaks.inFlight.get(device_id) ?? 1) - 1;
  if (n <= 0) tweaks.inFlight.delete(device_id);
  else tweaks.inFlight.set(device_id, n);
}

// Seam limits code writes (and reads) per device per minute.
const DEVICE_CODE_ROUTES = new Set([
  "/access_codes/create",
  "/access_codes/update",
  "/access_codes/delete",
  "/access_codes/get",
  "/access_codes/list",
  UNMANAGED_DELETE,
]);
// Listings whose pages a test may fail (the ones the fake paginates).
const PAGINATED_ROUTES = new Set(["/devices/list", "/locks/list", "/connected_accounts/list"]);

const codeById = (access_code_id) => db().access_codes.find((c) => c.access_code_id === access_code_id);

// The device a request is about: named directly, or through the code it names.
function deviceOf(params) {
  if (params.device_id) return String(params.device_id);
  if (params.access_code_id) return codeById(String(params.access_code_id))?.device_id ?? null;
  return null;
}

function takeRateLimit(device_id) {
  const limit = device_id == null ? null : tweaks.rateLimits.get(device_id);
  if (limit == null) return null;
  limit.remaining -= 1;
  if (limit.remaining <= 0) tweaks.rateLimits.delete(device_id);
  return limit;
}

function pageOf(route, params) {
  if (!params.page_cursor) return 1;
  return tweaks.cursorPages.get(`${route} ${params.page_cursor}`) ?? null;
}

function takePageFailure(route, params) {
  const failure = tweaks.pageFailures.get(route);
  if (failure == null || pageOf(route, params) !== failure.page) return false;
  failure.remaining -= 1;
  if (failure.remaining <= 0) tweaks.pageFailures.delete(route);
  return true;
}

function notePageCursor(route, params, answer) {
  const cursor = answer?.pagination?.next_page_cursor;
  const page = pageOf(route, params);
  if (cursor && page != null) tweaks.cursorPages.set(`${route} ${cursor}`, page + 1);
}

// A lock's name_length constraint: the lock keeps only that many characters.
function cutName(params) {
  if (typeof params.name !== "string") return;
  const device_id = deviceOf(params);
  const device = device_id && db().devices.find((d) => d.device_id === device_id);
  const limit = (device?.properties.code_constraints ?? []).find((c) => c.constraint_type === "name_length");
  if (limit?.max_length != null) params.name = params.name.slice(0, limit.max_length);
}

function later(ms, fn) {
  const timer = setTimeout(() => {
    tweaks.timers.delete(timer);
    fn();
  }, ms);
  tweaks.timers.add(timer);
}

// The lock reports back: a created or updated code is set, a deleted one removed.
function autoConfirm(route, params, answer, deviceBefore) {
  if (AUTO_CONFIRM_MS == null) return;
  if (route === "/access_codes/create" || route === "/access_codes/update") {
    const access_code_id = answer?.access_code?.access_code_id ?? params.access_code_id;
    if (!access_code_id) return;
    later(AUTO_CONFIRM_MS, () => {
      const code = codeById(access_code_id);
      const device = code && db().devices.find((d) => d.device_id === code.device_id);
      if (!device) return; // deleted meanwhile
      db().updateAccessCode({ access_code_id, status: "set" });
      addDeviceEvent(device, "access_code.set_on_device", { access_code_id, code: code.code });
    });
  } else if (route === "/access_codes/delete" && deviceBefore) {
    const access_code_id = String(params.access_code_id);
    later(AUTO_CONFIRM_MS, () =>
      addDeviceEvent(deviceBefore, "access_code.removed_from_device", { access_code_id }),
    );
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function sendJson(res, status, payload, headers = {}) {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function forward(req, body) {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, "content-length": String(body.length) };
    delete headers["transfer-encoding"];
    const upstream = http.request(
      { host: HOST, port: fakePort, method: req.method, path: req.url, headers },
      async (answer) => {
        try {
          resolve({ status: answer.statusCode, headers: answer.headers, body: await readBody(answer) });
        } catch (err) {
          reject(err);
        }
      },
    );
    upstream.once("error", reject);
    upstream.end(body);
  });
}

// Seam answers access_codes/list (and access_codes/unmanaged/list) with one device's codes
// when asked for one device_id; the fake (1.86.0) answers access_codes/list with every code
// of the workspace, so a benchmark would measure the fake. Asked for one device's managed
// codes, the proxy sends the fake that device's unmanaged list (the same key, the same
// device_id check, a small answer) and, if it is accepted, answers the device's managed
// codes from the fake's store itself (the objects the fake would send, in its order). An
// outage of the route (/outage) is still the fake's to answer.
async function forwardDeviceCodes(req, body, route, params) {
  const device_id = params.device_id == null ? null : String(params.device_id);
  const listing = route === "/access_codes/list" || route === "/access_codes/unmanaged/list";
  const outage = Object.values(db().simulatedWorkspaceOutages ?? {}).some((o) => o?.routes?.includes(route));
  if (route !== "/access_codes/list" || device_id == null || params.access_code_ids != null || outage) {
    const answer = await forward(req, body);
    const payload = listing && device_id != null && answer.status === 200 ? parseJson(answer.body) : null;
    if (device_id != null && Array.isArray(payload?.access_codes)) {
      payload.access_codes = payload.access_codes.filter((c) => c.device_id === device_id);
      answer.body = Buffer.from(JSON.stringify(payload), "utf8");
    }
    return answer;
  }
  const check = { method: req.method, headers: req.headers, url: req.url.replace(route, "/access_codes/unmanaged/list") };
  const answer = await forward(check, body);
  if (answer.status !== 200) return answer;
  const access_codes = db().access_codes.filter((c) => c.device_id === device_id && c.is_managed !== false && !c.is_backup);
  answer.body = Buffer.from(JSON.stringify({ access_codes, ok: true }), "utf8");
  return answer;
}

const parseJson = (buffer) => {
  try {
    const value = JSON.parse(buffer.toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
};

async function handleApi(req, res) {
  const url = new URL(req.url, "http://api");
  const route = url.pathname.replace(/\/+$/, "");
  let body = await readBody(req);
  const json = body.length > 0 && (req.headers["content-type"] ?? "").includes("json") ? parseJson(body) : null;
  // The SDK sends reads as GET + query string and writes as a JSON body.
  const params = { ...Object.fromEntries(url.searchParams), ...(json ?? {}) };
  tweaks.requests.set(route, (tweaks.requests.get(route) ?? 0) + 1);
  const device_id = DEVICE_CODE_ROUTES.has(route) ? deviceOf(params) : null;
  enter(device_id);
  try {
    await answerApi(req, res, route, params, json, body);
  } finally {
    leave(device_id);
  }
}

async function answerApi(req, res, route, params, json, body) {
  if (LATENCY_MS > 0) await sleep(LATENCY_MS);
  const slow = DEVICE_CODE_ROUTES.has(route) ? tweaks.slow.get(deviceOf(params)) : null;
  if (slow) await sleep(slow);

  if (DEVICE_CODE_ROUTES.has(route)) {
    const limit = takeRateLimit(deviceOf(params));
    const wait = limit == null ? takeWriteSlot(route, deviceOf(params)) : null;
    if (limit != null || wait != null) {
      if (wait != null) {
        const refused = `429 ${route}`; // Seam's own limit, not one a test injected
        tweaks.requests.set(refused, (tweaks.requests.get(refused) ?? 0) + 1);
      }
      return sendJson(
        res,
        429,
        { error: { type: "rate_limit_exceeded", message: "Too many requests for this device; retry later." } },
        { "retry-after": String(limit?.retry_after ?? wait) },
      );
    }
  }
  if (PAGINATED_ROUTES.has(route) && takePageFailure(route, params)) {
    return sendJson(res, 503, {
      error: { type: "service_unavailable", message: `Simulated failure of a page of ${route}` },
    });
  }
  if (json != null && (route === "/access_codes/create" || route === "/access_codes/update")) {
    cutName(json);
    body = Buffer.from(JSON.stringify(json), "utf8");
  }
  if (route === UNMANAGED_DELETE) return deleteUnmanagedCode(req, res, params);
  const deviceBefore =
    route === "/access_codes/delete" ? db().devices.find((d) => d.device_id === deviceOf(params)) : null;

  const answer = await forwardDeviceCodes(req, body, route, params);
  if (answer.status >= 200 && answer.status < 300) {
    const payload = (answer.headers["content-type"] ?? "").includes("json") ? parseJson(answer.body) : null;
    if (PAGINATED_ROUTES.has(route)) notePageCursor(route, params, payload);
    autoConfirm(route, params, payload, deviceBefore);
    if (payload && addPendingMutations(payload)) answer.body = Buffer.from(JSON.stringify(payload), "utf8");
  }
  const headers = { ...answer.headers, "content-length": String(answer.body.length) };
  delete headers["transfer-encoding"];
  delete headers.connection;
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

// POST /access_codes/unmanaged/delete {access_code_id}, answered as Seam's real API does:
// the key is checked, a workspace outage naming the route answers 503, an unknown (or
// managed) code is a 404 access_code_not_found; otherwise the code leaves the lock and
// Seam records access_code.unmanaged.removed. A code marked stuck stays on the lock.
function deleteUnmanagedCode(req, res, params) {
  if (req.method !== "POST" && req.method !== "DELETE") {
    return sendJson(res, 405, { error: { type: "method_not_allowed", message: "POST only" } });
  }
  if (req.headers.authorization !== `Bearer ${API_KEY}`) {
    return sendJson(res, 401, { error: { type: "unauthorized", message: "Unauthorized" } });
  }
  const outage = db().simulatedWorkspaceOutages?.[WORKSPACE_ID];
  if ((outage?.routes ?? []).includes(UNMANAGED_DELETE)) {
    res.writeHead(503);
    return res.end();
  }
  const access_code_id = params.access_code_id == null ? "" : String(params.access_code_id);
  if (!access_code_id) {
    return sendJson(res, 400, { error: { type: "invalid_input", message: "access_code_id is required" } });
  }
  const code = codeById(access_code_id);
  if (code == null || code.is_managed !== false) {
    return sendJson(res, 404, {
      error: { type: "access_code_not_found", message: "Could not find an unmanaged access_code" },
    });
  }
  if (!tweaks.stuckUnmanaged.has(access_code_id)) {
    db().deleteAccessCode(access_code_id);
    const device = db().devices.find((d) => d.device_id === code.device_id);
    if (device) addDeviceEvent(device, "access_code.unmanaged.removed", { access_code_id });
  }
  return sendJson(res, 200, { ok: true });
}

// Seam's pending_mutations on the codes of a get or list answer (set through the control
// endpoint, /access_codes/set_pending_mutations); true when the answer changed.
function addPendingMutations(payload) {
  if (tweaks.pendingMutations.size === 0) return false;
  const codes = [payload.access_code, ...(payload.access_codes ?? [])].filter(Boolean);
  let changed = false;
  for (const code of codes) {
    const pending = tweaks.pendingMutations.get(code.access_code_id);
    if (pending) {
      code.pending_mutations = pending;
      changed = true;
    }
  }
  return changed;
}

const api = http.createServer((req, res) => {
  handleApi(req, res).catch((err) => {
    console.error("api proxy error:", err);
    if (!res.headersSent) sendJson(res, 502, { error: { type: "proxy_error", message: String(err?.message ?? err) } });
    else res.destroy();
  });
});
await new Promise((resolve, reject) =>
  api.once("error", reject).listen({ port: Number(process.env.PORT ?? 0), host: HOST }, resolve),
);
const apiUrl = `http://${HOST}:${api.address().port}`;
const fakePort = await startFake(apiUrl);
const fakeUrl = `http://${HOST}:${fakePort}`;

// ---------------------------------------------------------------------------
// Control endpoint
// ---------------------------------------------------------------------------

class ControlError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const required = (body, key) => {
  if (body[key] == null || body[key] === "") throw new ControlError(400, "invalid_input", `${key} is required`);
  return body[key];
};
const findDevice = (device_id) => {
  const device = db().devices.find((d) => d.device_id === device_id);
  if (device == null) throw new ControlError(404, "device_not_found", `no device ${device_id}`);
  return device;
};
const findCode = (access_code_id) => {
  const code = db().access_codes.find((c) => c.access_code_id === access_code_id);
  if (code == null) throw new ControlError(404, "access_code_not_found", `no access code ${access_code_id}`);
  return code;
};
const addDeviceEvent = (device, event_type, extra = {}) =>
  db().addEvent({
    event_type,
    workspace_id: device.workspace_id,
    device_id: device.device_id,
    connected_account_id: device.connected_account_id,
    ...extra,
  });

// The events Seam sends when a code's state on the lock changes.
const CODE_STATE_EVENTS = { set: "access_code.set_on_device", unset: "access_code.removed_from_device" };
// The events Seam sends alongside some access-code errors.
const CODE_ERROR_EVENTS = {
  failed_to_set_on_device: "access_code.failed_to_set_on_device",
  failed_to_remove_from_device: "access_code.failed_to_remove_from_device",
  delay_in_setting_on_device: "access_code.delay_in_setting_on_device",
};

let extraLocks = 0; // ids stay unique for the whole run, like the fake's own

const routes = {
  "POST /access_codes/set_state": (body) => {
    const code = findCode(required(body, "access_code_id"));
    const status = required(body, "status");
    if (!["set", "unset", "removing", "setting"].includes(status)) {
      throw new ControlError(400, "invalid_input", `unsupported status ${status}`);
    }
    const updated = db().updateAccessCode({ access_code_id: code.access_code_id, status });
    const event_type = CODE_STATE_EVENTS[status];
    const device = db().devices.find((d) => d.device_id === code.device_id);
    const event =
      event_type && device && body.event !== false
        ? addDeviceEvent(device, event_type, { access_code_id: code.access_code_id, code: code.code })
        : null;
    return { access_code: updated, event };
  },

  "POST /access_codes/add_error": (body) => {
    const code = findCode(required(body, "access_code_id"));
    const error_code = required(body, "error_code");
    const error = {
      error_code,
      message: body.message ?? error_code.replaceAll("_", " "),
      is_access_code_error: true,
      created_at: new Date().toISOString(),
    };
    const updated = db().updateAccessCode({ access_code_id: code.access_code_id, errors: [...code.errors, error] });
    const event_type = CODE_ERROR_EVENTS[error_code];
    const device = db().devices.find((d) => d.device_id === code.device_id);
    const event =
      event_type && device && body.event !== false
        ? addDeviceEvent(device, event_type, { access_code_id: code.access_code_id })
        : null;
    return { access_code: updated, event };
  },

  // Seam is still pushing a change to the lock (creating, deferring_creation, deleting,
  // updating_code, updating_name, updating_time_frame): the code's get and list answers
  // carry it in pending_mutations until cleared with mutation_codes [].
  "POST /access_codes/set_pending_mutations": (body) => {
    const code = findCode(required(body, "access_code_id"));
    const known = ["creating", "deferring_creation", "deleting", "updating_code", "updating_name", "updating_time_frame"];
    const codes = required(body, "mutation_codes");
    if (!Array.isArray(codes) || codes.some((c) => !known.includes(c))) {
      throw new ControlError(400, "invalid_input", `mutation_codes: a list of ${known.join(", ")}`);
    }
    const created_at = new Date().toISOString();
    const pending = codes.map((mutation_code) => ({ mutation_code, created_at, message: mutation_code.replaceAll("_", " ") }));
    if (pending.length) tweaks.pendingMutations.set(code.access_code_id, pending);
    else tweaks.pendingMutations.delete(code.access_code_id);
    return { access_code_id: code.access_code_id, pending_mutations: pending };
  },

  // Test affordance: the lock keeps this unmanaged code although Seam accepts its
  // deletion (stuck: false lets the next deletion through). Until the next reset.
  "POST /access_codes/unmanaged/stuck": (body) => {
    const code = findCode(required(body, "access_code_id"));
    if (code.is_managed !== false) throw new ControlError(400, "invalid_input", "not an unmanaged code");
    if (body.stuck === false) tweaks.stuckUnmanaged.delete(code.access_code_id);
    else tweaks.stuckUnmanaged.add(code.access_code_id);
    return { access_code_id: code.access_code_id, stuck: tweaks.stuckUnmanaged.has(code.access_code_id) };
  },

  // Test affordance: an unmanaged code on any lock (Seam's own simulation route takes
  // August locks only), e.g. another integration's code on the Yale Garden Gate.
  "POST /access_codes/unmanaged/add": (body) => {
    const device = findDevice(required(body, "device_id"));
    const digits = String(required(body, "code"));
    if (!/^\d{4,12}$/.test(digits)) throw new ControlError(400, "invalid_input", "code is 4-12 digits");
    const access_code = db().addAccessCode({
      code: digits,
      device_id: device.device_id,
      name: body.name ?? "Unmanaged code",
      workspace_id: device.workspace_id,
      type: "ongoing",
      is_managed: false,
    });
    return { access_code };
  },

  // Seam's device warnings, e.g. third_party_integration_detected ([] clears them).
  "POST /devices/warnings": (body) => {
    const device_id = findDevice(required(body, "device_id")).device_id;
    const codes = body.warning_codes ?? [];
    if (!Array.isArray(codes)) throw new ControlError(400, "invalid_input", "warning_codes is a list");
    const warnings = codes.map((warning_code) => ({
      warning_code,
      message: body.message ?? `Simulated ${warning_code}`,
      created_at: new Date().toISOString(),
    }));
    produce((state) => {
      state.devices.find((d) => d.device_id === device_id).warnings = warnings;
    });
    return { device_id, warnings };
  },

  "POST /access_codes/clear_errors": (body) => {
    const code = findCode(required(body, "access_code_id"));
    return { access_code: db().updateAccessCode({ access_code_id: code.access_code_id, errors: [] }) };
  },

  // As if someone deleted the code in the lock's own app: it is gone from the lock,
  // hence from Seam, and Seam says so with an event.
  "POST /access_codes/delete_external": (body) => {
    const code = findCode(required(body, "access_code_id"));
    db().deleteAccessCode(code.access_code_id);
    const device = db().devices.find((d) => d.device_id === code.device_id);
    const event = device
      ? addDeviceEvent(device, "access_code.deleted_external_to_seam", { access_code_id: code.access_code_id })
      : null;
    return { access_code_id: code.access_code_id, event };
  },

  // As if someone changed the code's digits in the lock's own app.
  "POST /access_codes/modify_external": (body) => {
    const code = findCode(required(body, "access_code_id"));
    const digits = String(required(body, "code"));
    const warning = {
      warning_code: "code_modified_external_to_seam",
      message: "Code was modified or removed externally after Seam successfully set it on the device.",
      created_at: new Date().toISOString(),
    };
    const warnings = (code.warnings ?? []).filter((w) => w.warning_code !== warning.warning_code);
    const updated = db().updateAccessCode({
      access_code_id: code.access_code_id,
      code: digits,
      warnings: [...warnings, warning],
    });
    const device = db().devices.find((d) => d.device_id === code.device_id);
    const event = device
      ? addDeviceEvent(device, "access_code.modified_external_to_seam", { access_code_id: code.access_code_id })
      : null;
    return { access_code: updated, event };
  },

  // The next `times` access-code requests naming this device answer 429 (without
  // `times`: until cleared with times 0).
  "POST /devices/rate_limit": (body) => {
    const device_id = findDevice(required(body, "device_id")).device_id;
    const times = body.times == null ? Infinity : Number(body.times);
    const retry_after = body.retry_after == null ? 60 : Number(body.retry_after);
    if (!(times >= 0) || !(retry_after >= 0)) {
      throw new ControlError(400, "invalid_input", "times and retry_after are numbers >= 0");
    }
    if (times === 0) tweaks.rateLimits.delete(device_id);
    else tweaks.rateLimits.set(device_id, { remaining: times, retry_after });
    return { device_id, times: Number.isFinite(times) ? times : null, retry_after };
  },

  // Requests about this device's codes answer `ms` later than the others (0: as fast);
  // until the next reset.
  "POST /devices/slow": (body) => {
    const device_id = findDevice(required(body, "device_id")).device_id;
    const ms = Number(required(body, "ms"));
    if (!(ms >= 0 && ms <= 60_000)) throw new ControlError(400, "invalid_input", "ms is 0..60000");
    if (ms === 0) tweaks.slow.delete(device_id);
    else tweaks.slow.set(device_id, ms);
    return { device_id, ms };
  },

  // Page `page` (1 = the first) of a listing answers 503, `times` times (default 1).
  "POST /pagination/fail": (body) => {
    const raw = String(required(body, "route"));
    const route = raw.startsWith("/") ? raw : `/${raw}`;
    if (!PAGINATED_ROUTES.has(route)) {
      throw new ControlError(400, "invalid_input", `route is one of ${[...PAGINATED_ROUTES].join(", ")}`);
    }
    const page = Number(required(body, "page"));
    const times = body.times == null ? 1 : Number(body.times);
    if (!(Number.isInteger(page) && page >= 1) || !(times >= 0)) {
      throw new ControlError(400, "invalid_input", "page is an integer >= 1, times a number >= 0");
    }
    if (times === 0) tweaks.pageFailures.delete(route);
    else tweaks.pageFailures.set(route, { page, remaining: times });
    return { route, page, times };
  },

  // Extra locks (plain August PIN locks) so that a listing spans several pages.
  "POST /devices/add_locks": (body) => {
    const count = Number(required(body, "count"));
    if (!(Number.isInteger(count) && count >= 1 && count <= 1000)) {
      throw new ControlError(400, "invalid_input", "count is an integer 1..1000");
    }
    const device_ids = [];
    for (let i = 0; i < count; i++) {
      const id = `keystay_extra_lock_${++extraLocks}`;
      addLock(db(), {
        id,
        type: "august_lock",
        name: `Extra Lock ${extraLocks}`,
        model: "August Wi-Fi Smart Lock",
        manufacturer: "august",
        battery: 0.9,
        supported_code_lengths: [4, 5, 6],
        code_constraints: [],
      });
      device_ids.push(id);
    }
    return { device_ids };
  },

  "POST /devices/update": (body) => {
    const device = findDevice(required(body, "device_id"));
    const properties = {};
    const patch = { device_id: device.device_id, properties };
    const events = [];
    if (body.name != null) {
      Object.assign(properties, { name: body.name, appearance: { name: body.name } });
      patch.display_name = body.name;
    }
    if (body.battery_level != null) {
      const level = Number(body.battery_level);
      if (!(level >= 0 && level <= 1)) throw new ControlError(400, "invalid_input", "battery_level is 0..1");
      const status = batteryStatus(level);
      Object.assign(properties, { battery_level: level, battery: { level, status } });
      if (status !== device.properties.battery?.status) {
        events.push(addDeviceEvent(device, "device.battery_status_changed", { battery_level: level, battery_status: status }));
      }
      if (["low", "critical"].includes(status) && level < (device.properties.battery_level ?? 1)) {
        events.push(addDeviceEvent(device, "device.low_battery", { battery_level: level }));
      }
    }
    if (body.online != null && Boolean(body.online) !== device.properties.online) {
      const online = Boolean(body.online);
      properties.online = online;
      // Seam reports an offline device both in properties and as a device error.
      const others = device.errors.filter((e) => e.error_code !== "device_offline");
      patch.errors = online ? others : [...others, offlineError()];
      events.push(addDeviceEvent(device, online ? "device.connected" : "device.disconnected"));
    }
    return { device: db().updateDevice(patch), events };
  },

  "POST /devices/remove": (body) => {
    const device = findDevice(required(body, "device_id"));
    db().deleteDevice(device.device_id);
    return { device_id: device.device_id, event: addDeviceEvent(device, "device.removed") };
  },

  // A provider account in trouble, as Seam reports it: `error_codes` such as
  // "account_reauthorization_requested" or "account_disconnected" ([] clears them).
  "POST /connected_accounts/errors": (body) => {
    const connected_account_id = required(body, "connected_account_id");
    if (!db().connected_accounts.some((a) => a.connected_account_id === connected_account_id)) {
      throw new ControlError(404, "not_found", `No connected account ${connected_account_id}`);
    }
    const errors = (body.error_codes ?? []).map((error_code) => ({
      error_code,
      message: `Simulated ${error_code}`,
      is_connected_account_error: true,
      created_at: new Date().toISOString(),
    }));
    produce((state) => {
      state.connected_accounts.find((a) => a.connected_account_id === connected_account_id).errors = errors;
    });
    return { connected_account_id, errors };
  },

  "POST /events/add": (body) => {
    const { event_type, device_id, ...rest } = body;
    required(body, "event_type");
    if (device_id == null) {
      return { event: db().addEvent({ workspace_id: WORKSPACE_ID, event_type, ...rest }) };
    }
    // Unlike a device-scoped fact, an event may outlive its device: look it up
    // among the live devices, fall back to the seeded workspace.
    const device = db().devices.find((d) => d.device_id === device_id) ?? {
      device_id,
      workspace_id: WORKSPACE_ID,
      connected_account_id: CONNECTED_ACCOUNT_ID,
    };
    const extra = { ...rest };
    if (extra.access_code_id != null && extra.access_code_is_managed == null) {
      extra.access_code_is_managed = db().access_codes.some((c) => c.access_code_id === extra.access_code_id);
    }
    return { event: addDeviceEvent(device, event_type, extra) };
  },

  "POST /outage": async (body) => {
    const routesDown = (body.routes ?? []).map((route) => (route.startsWith("/") ? route : `/${route}`));
    const response = await fetch(`${fakeUrl}/_fake/simulate_workspace_outage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ workspace_id: body.workspace_id ?? WORKSPACE_ID, routes: routesDown }),
    });
    if (!response.ok) throw new ControlError(502, "fake_error", await response.text());
    return { routes: routesDown };
  },

  "POST /reset": () => {
    // Top-level keys are replaced with a fresh copy of the seeded data; the
    // store's methods and id counters stay. Also ends any simulated outage, and
    // clears rate limits, page failures, pending auto-confirmations and request counts.
    fake.database.setState(structuredClone(seededData));
    clearTweaks();
    return { ok: true };
  },

  // How many API requests each route received since the last reset or clear: what a
  // benchmark counts as Seam calls, whichever client made them. Clear answers the
  // counts it clears, so that no request falls between reading and clearing.
  // A write refused by Seam's per-device limit also counts under "429 <route>".
  // max_in_flight: the most requests
  // answered side by side (max_in_flight_per_device: for one device's codes).
  "GET /requests": () => countsSnapshot(),
  "POST /requests/clear": () => {
    const counts = countsSnapshot();
    clearCounts();
    return counts;
  },

  // Every answer delayed by `ms` (until the next reset).
  "POST /latency": (body) => {
    const ms = Number(required(body, "ms"));
    if (!(ms >= 0 && ms <= 60_000)) throw new ControlError(400, "invalid_input", "ms is 0..60000");
    LATENCY_MS = ms;
    return { ms };
  },

  // Seam's per-device write limits on or off (until the next reset); either way the
  // writes counted so far are forgotten, as if a minute had passed.
  "POST /write_limits": (body) => {
    tweaks.writeLimits = Boolean(required(body, "enabled"));
    tweaks.writes.clear();
    return { enabled: tweaks.writeLimits, limits: WRITE_LIMITS };
  },

  "GET /state": () => {
    const state = db();
    return {
      outages: state.simulatedWorkspaceOutages,
      devices: state.devices.map((d) => ({
        device_id: d.device_id,
        device_type: d.device_type,
        name: d.properties.name,
        online: d.properties.online,
        battery_level: d.properties.battery_level ?? d.properties.battery?.level ?? null,
        errors: d.errors,
      })),
      access_codes: state.access_codes.map((c) => ({
        access_code_id: c.access_code_id,
        device_id: c.device_id,
        name: c.name,
        code: c.code,
        type: c.type,
        starts_at: c.starts_at ?? null,
        ends_at: c.ends_at ?? null,
        status: c.status,
        errors: c.errors,
        warnings: c.warnings ?? [],
      })),
      rate_limits: Object.fromEntries(
        [...tweaks.rateLimits].map(([device_id, l]) => [device_id, { ...l, remaining: Number.isFinite(l.remaining) ? l.remaining : null }]),
      ),
      page_failures: Object.fromEntries(tweaks.pageFailures),
      events: state.events.map(({ event_id, event_type, device_id, access_code_id, created_at }) => ({
        event_id,
        event_type,
        device_id,
        access_code_id,
        created_at,
      })),
    };
  },
};

const MAX_BODY = 1 << 20;

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ControlError(413, "too_large", "body too large");
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
    return body;
  } catch {
    throw new ControlError(400, "invalid_json", "body must be a JSON object");
  }
}

function send(res, status, payload) {
  const body = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const control = http.createServer(async (req, res) => {
  try {
    // Bound to 127.0.0.1 already; the checks below also keep out requests
    // relayed by a browser (DNS rebinding via Host, cross-site form posts,
    // which cannot send application/json without a CORS preflight we never answer).
    if (!LOOPBACK_ADDRESSES.has(req.socket.remoteAddress)) {
      throw new ControlError(403, "forbidden", "loopback clients only");
    }
    const hostname = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (!["127.0.0.1", "localhost", "[::1]"].includes(hostname)) {
      throw new ControlError(403, "forbidden", "unexpected Host header");
    }
    const path = new URL(req.url, "http://control").pathname.replace(/\/+$/, "");
    const handler = routes[`${req.method} ${path}`];
    if (handler == null) throw new ControlError(404, "not_found", `no route ${req.method} ${path}`);
    if (req.method === "POST" && !(req.headers["content-type"] ?? "").startsWith("application/json")) {
      throw new ControlError(415, "unsupported_media_type", "send application/json");
    }
    const body = req.method === "POST" ? await readJson(req) : {};
    send(res, 200, await handler(body));
  } catch (err) {
    if (!(err instanceof ControlError)) console.error("control error:", err);
    const status = err instanceof ControlError ? err.status : 500;
    send(res, status, { error: { type: err.type ?? "internal_error", message: String(err.message ?? err) } });
  }
});

await new Promise((resolve, reject) =>
  control.once("error", reject).listen({ port: Number(process.env.CONTROL_PORT ?? 0), host: HOST }, resolve),
);
const controlUrl = `http://${HOST}:${control.address().port}`;

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  console.error(`fake-seam launcher: stopping (${reason})`);
  control.close();
  api.close();
  api.closeAllConnections?.();
  fake.server?.server.closeAllConnections?.();
  fake.stopServer().finally(() => process.exit(0));
  // Keep-alive sockets must not hold the process open.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
if (process.env.FAKE_SEAM_WATCH_STDIN !== "0") {
  // The parent holds our stdin open; EOF means it went away, even if it crashed.
  process.stdin.on("end", () => shutdown("stdin closed"));
  process.stdin.on("error", () => shutdown("stdin error"));
  process.stdin.resume();
}

process.stdout.write(
  `FAKE_SEAM_READY ${JSON.stringify({
    url: apiUrl,
    control_url: controlUrl,
    api_key: API_KEY,
    workspace_id: WORKSPACE_ID,
    pid: process.pid,
    seed: SEED,
  })}\n`,
);
