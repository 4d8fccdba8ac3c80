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
// Environment: PORT and CONTROL_PORT (0 or unset = a free port);
// FAKE_SEAM_WATCH_STDIN=0 keeps it running when stdin is closed (manual use).
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
async function startFakeOnLoopback(port) {
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === "number") {
      const callback = args.find((arg) => typeof arg === "function");
      return originalListen.call(this, { port: args[0], host: HOST }, callback);
    }
    return originalListen.apply(this, args);
  };
  try {
    // baseUrl must be known up front (the fake bakes it into its responses),
    // hence a concrete port rather than 0.
    return await fake.startServer({ port, baseUrl: `http://${HOST}:${port}` });
  } finally {
    net.Server.prototype.listen = originalListen;
  }
}

async function startFake() {
  const wanted = Number(process.env.PORT ?? 0);
  for (let attempt = 0; ; attempt++) {
    const port = wanted || (await freePort());
    try {
      const server = await startFakeOnLoopback(port);
      const address = server.server.address();
      if (address?.address !== HOST) throw new Error(`fake bound to ${JSON.stringify(address)}`);
      return port;
    } catch (err) {
      // A free port can be taken between probing and binding: try another.
      if (wanted || err?.code !== "EADDRINUSE" || attempt >= 5) throw err;
    }
  }
}

const port = await startFake();
const apiUrl = `http://${HOST}:${port}`;

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

  "POST /access_codes/clear_errors": (body) => {
    const code = findCode(required(body, "access_code_id"));
    return { access_code: db().updateAccessCode({ access_code_id: code.access_code_id, errors: [] }) };
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
    const response = await fetch(`${apiUrl}/_fake/simulate_workspace_outage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ workspace_id: body.workspace_id ?? WORKSPACE_ID, routes: routesDown }),
    });
    if (!response.ok) throw new ControlError(502, "fake_error", await response.text());
    return { routes: routesDown };
  },

  "POST /reset": () => {
    // Top-level keys are replaced with a fresh copy of the seeded data; the
    // store's methods and id counters stay. Also ends any simulated outage.
    fake.database.setState(structuredClone(seededData));
    return { ok: true };
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
      })),
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
