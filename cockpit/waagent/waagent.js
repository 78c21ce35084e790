/* The Azure VM agent in Cockpit: plain JavaScript on cockpit.dbus() and the system bus.
 *
 * Everything shown is live: each service's properties through Cockpit's proxies (PropertiesChanged),
 * the extension objects through extd's ObjectManager (InterfacesAdded/Removed), the services' presence
 * through NameOwnerChanged. Nothing polls. Actions call the services' own methods with interactive
 * authorization allowed, so polkit decides (and asks Cockpit's agent for a password where it can);
 * a refusal or failure is shown as the service's one-line D-Bus error message.
 *
 * Names come from dbus/interfaces/*.xml; they are spelled once, here.
 */
"use strict";

(function () {
    const WIRE = "org.waagent.Wire1";
    const PROVISIONER = "org.waagent.Provisioner1";
    const DISK = "org.waagent.Disk1";
    const EXTENSIONS = "org.waagent.Extensions1";
    const EXTENSION = "org.waagent.Extensions1.Extension";
    const NETWORK = "org.waagent.Network1";
    const SERVICES = [
        [WIRE, "wire (fabric connection)"],
        [PROVISIONER, "provisioner"],
        [DISK, "diskd (resource disk)"],
        [EXTENSIONS, "extd (extensions)"],
        [NETWORK, "netd (network)"],
    ];
    const BUS = "org.freedesktop.DBus";
    const PROPERTIES = "org.freedesktop.DBus.Properties";
    // Verbs may prompt: the ALLOW_INTERACTIVE_AUTHORIZATION flag on the call.
    const INTERACTIVE = { flags: "i" };

    const pathOf = name => "/" + name.replaceAll(".", "/");
    const $ = id => document.getElementById(id);
    const clients = {};
    const client = name => (clients[name] = clients[name] || cockpit.dbus(name, { bus: "system" }));
    const call = (name, path, iface, method, args, options) =>
        Promise.resolve(client(name).call(path, iface, method, args || [], options));

    // ---- presentation helpers ------------------------------------------------------------------

    const GOOD = new Set(["Ready", "Provisioned", "Mounted", "present", "success", "enabled", "running",
                          "Success", "Enabled"]);
    const BAD = new Set(["Failed", "FabricUnavailable", "GoalStateError", "error", "partial", "failed",
                         "Error", "unavailable"]);

    function label(text) {
        const span = document.createElement("span");
        span.className = "pf-v5-c-label " +
            (GOOD.has(text) ? "pf-m-green" : BAD.has(text) ? "pf-m-red" : text ? "pf-m-blue" : "");
        span.textContent = text || "unknown";
        return span;
    }

    function setLabel(id, text) {
        $(id).replaceChildren(label(text));
    }

    /* rows: [label, value, key]; key becomes data-field, so a test (or a person) finds the value. */
    function renderList(id, rows) {
        const dl = $(id);
        dl.replaceChildren();
        for (const [term, value, key] of rows) {
            const dt = document.createElement("dt");
            dt.className = "pf-v5-c-description-list__term";
            dt.textContent = term;
            const dd = document.createElement("dd");
            dd.className = "pf-v5-c-description-list__description";
            if (value instanceof Node)
                dd.append(value);
            else
                dd.textContent = value === undefined || value === null ? "" : String(value);
            if (key)
                dd.dataset.field = key;
            dl.append(dt, dd);
        }
    }

    function formatTime(microseconds) {
        if (!microseconds)
            return "never";
        return new Date(Number(microseconds) / 1000).toLocaleString();
    }

    function errorText(ex) {
        // A D-Bus error from Cockpit: .name is org.waagent.Error.X, .message the service's line.
        return (ex && (ex.message || cockpit.message(ex))) || String(ex);
    }

    function showAlert(kind, title, text) {
        const alert = $("alert");
        alert.className = "pf-v5-c-alert " + (kind === "success" ? "pf-m-success" : "pf-m-danger");
        $("alert-title").textContent = title;
        $("alert-message").textContent = text;
        alert.hidden = false;
    }

    const showError = (title, ex) => showAlert("danger", title, errorText(ex));
    const showSuccess = (title, text) => showAlert("success", title, text || "");

    /* One action: the button is disabled meanwhile; a failure becomes the alert. */
    function act(button, title, run, done) {
        button.disabled = true;
        return Promise.resolve()
                .then(run)
                .then(result => {
                    $("alert").hidden = true; // an earlier failure is no longer the news
                    if (done)
                        done(result);
                }, ex => showError(title, ex))
                .finally(() => { button.disabled = false });
    }

    // ---- a generic confirmation dialog -----------------------------------------------------------

    const dialog = {
        open(title, body, confirmText, onConfirm) {
            $("dialog-title").textContent = title;
            $("dialog-body").replaceChildren(...body);
            $("dialog-confirm").textContent = confirmText;
            $("dialog-error").hidden = true;
            this.onConfirm = onConfirm;
            $("dialog").hidden = false;
            $("dialog-confirm").focus();
        },
        close() {
            $("dialog").hidden = true;
            this.onConfirm = null;
        },
        fail(ex) {
            $("dialog-error").textContent = errorText(ex);
            $("dialog-error").hidden = false;
        },
    };
    $("dialog-cancel").addEventListener("click", () => dialog.close());
    document.addEventListener("keydown", event => {
        if (event.key === "Escape" && !$("dialog").hidden)
            dialog.close();
    });
    $("dialog-confirm").addEventListener("click", () => {
        const button = $("dialog-confirm");
        button.disabled = true;
        Promise.resolve()
                .then(() => dialog.onConfirm())
                .then(() => dialog.close(), ex => dialog.fail(ex))
                .finally(() => { button.disabled = false });
    });
    $("alert-close").addEventListener("click", () => { $("alert").hidden = true });

    function paragraph(text) {
        const p = document.createElement("p");
        p.textContent = text;
        return p;
    }

    function list(items) {
        const ul = document.createElement("ul");
        ul.className = "wa-list";
        for (const item of items) {
            const li = document.createElement("li");
            li.textContent = item;
            ul.append(li);
        }
        return ul;
    }

    // ---- live properties -------------------------------------------------------------------------

    function watch(name, render) {
        const proxy = client(name).proxy(name, pathOf(name));
        render(proxy);
        proxy.addEventListener("changed", () => render(proxy));
        proxy.wait(() => { proxy.loaded = true; render(proxy) });
        return proxy;
    }

    // A card's label: the state property, or why there is none (yet).
    const stateOf = (p, prop) => !p.loaded ? "loading" : p.valid ? p[prop] : "unavailable";

    // wire: LastContact changes on every poll and sends no signal (its interface says so), so it is
    // read when something else about wire changes or a new goal state is announced.
    let lastContact = null; // not read yet
    function readLastContact() {
        call(WIRE, pathOf(WIRE), PROPERTIES, "Get", [WIRE, "LastContact"])
                .then(([variant]) => {
                    lastContact = variant.v;
                    const dd = document.querySelector('[data-field="wire.LastContact"]');
                    if (dd)
                        dd.textContent = formatTime(lastContact);
                })
                .catch(() => {});
    }

    function renderWire(p) {
        setLabel("wire-state-label", stateOf(p, "State"));
        $("agent-version").textContent = p.Version ? "version " + p.Version : "";
        renderList("wire-list", [
            ["Endpoint", p.Endpoint, "wire.Endpoint"],
            ["Incarnation", p.Incarnation, "wire.Incarnation"],
            ["Last contact", lastContact === null ? "" : formatTime(lastContact), "wire.LastContact"],
            ["Last error", p.LastError, "wire.LastError"],
            ["Role instance", p.RoleInstanceId, "wire.RoleInstanceId"],
        ]);
        readLastContact();
    }

    function renderProvisioning(p) {
        setLabel("provisioning-state-label", stateOf(p, "State"));
        renderList("provisioning-list", [
            ["State", p.State, "provisioning.State"],
            ["User", p.ProvisionedUser, "provisioning.ProvisionedUser"],
            ["Source", p.Source, "provisioning.Source"],
            ["Failure reason", p.FailureReason, "provisioning.FailureReason"],
            ["Last run", p.valid ? formatTime(p.LastRun) : "", "provisioning.LastRun"],
        ]);
    }

    let swapEdited = false;
    $("swap-size").addEventListener("input", () => { swapEdited = true });

    function renderDisk(p) {
        setLabel("disk-state-label", stateOf(p, "State"));
        const swap = p.SwapEnabled ? p.SwapSizeMB + " MiB, active" : "off";
        renderList("disk-list", [
            ["State", p.State, "disk.State"],
            ["Device", p.Device, "disk.Device"],
            ["Mount point", p.Mounted ? p.MountPoint + " (" + p.Filesystem + ")" : "not mounted",
                "disk.MountPoint"],
            ["Swap", p.valid ? swap : "", "disk.Swap"],
            ["Last error", p.LastError, "disk.LastError"],
        ]);
        if (!swapEdited && p.SwapSizeMB !== undefined)
            $("swap-size").value = p.SwapSizeMB;
    }

    function renderNetwork(p) {
        setLabel("network-state-label", stateOf(p, "FirewallState"));
        renderList("network-list", [
            ["Firewall", p.FirewallState, "network.FirewallState"],
            ["Backend", p.Backend, "network.Backend"],
            ["WireServer", p.Endpoint, "network.Endpoint"],
            ["Last error", p.LastError, "network.LastError"],
        ]);
    }

    // ---- services: running or activatable ---------------------------------------------------------

    const running = new Set();
    const activatable = new Set();
    let networkWatched = false;

    function serviceState(name) {
        return running.has(name) ? "running" : activatable.has(name) ? "activatable" : "not installed";
    }

    function renderServices() {
        renderList("services-list", SERVICES.map(([name, title]) => {
            const value = label(serviceState(name));
            value.title = name;
            return [title, value, "service." + name];
        }));
        // netd is optional: its card shows only where the service exists.
        const present = running.has(NETWORK) || activatable.has(NETWORK);
        $("card-network").hidden = !present;
        if (present && !networkWatched) {
            networkWatched = true;
            watch(NETWORK, renderNetwork);
        }
    }

    function watchServices() {
        const bus = client(BUS);
        bus.subscribe({ interface: BUS, member: "NameOwnerChanged", path: pathOf(BUS) },
                      (path, iface, signal, [name, , owner]) => {
                          if (!name.startsWith("org.waagent."))
                              return;
                          if (owner)
                              running.add(name);
                          else
                              running.delete(name);
                          renderServices();
                      });
        Promise.all([
            call(BUS, pathOf(BUS), BUS, "ListNames"),
            call(BUS, pathOf(BUS), BUS, "ListActivatableNames"),
        ]).then(([[names], [startable]]) => {
            names.forEach(n => running.add(n));
            startable.forEach(n => activatable.add(n));
            renderServices();
        }, ex => showError("Cannot list the services", ex));
    }

    // ---- extensions --------------------------------------------------------------------------------

    function renderGoalState(p) {
        const text = p.GoalStateId ? "goal state " + p.GoalStateId + ": " + (p.GoalStateStatus || "") : "";
        $("goal-state").textContent = text;
    }

    const isHandler = path => path.split("/").length === 5; // /org/waagent/Extensions1/<handler>

    function extensionButton(text, path, method, confirm) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "pf-v5-c-button pf-m-secondary pf-m-small";
        button.textContent = text;
        button.dataset.action = method;
        const run = () => call(EXTENSIONS, path, EXTENSION, method, [], INTERACTIVE);
        button.addEventListener("click", () => {
            if (confirm)
                confirm(run);
            else
                act(button, method + " failed", run);
        });
        return button;
    }

    function renderExtensions(handlers) {
        const body = $("extensions-body");
        body.replaceChildren();
        const paths = Object.keys(handlers).filter(k => handlers[k] && handlers[k].valid).sort();
        for (const path of paths) {
            const p = handlers[path];
            const name = isHandler(path) ? p.Handler : p.Handler + " / " + p.Name;
            const status = p.Status + (p.Code ? " (code " + p.Code + ")" : "");
            const row = document.createElement("tr");
            row.dataset.path = path;
            row.dataset.handler = p.Handler;
            const cells = [["Handler", name], ["Version", p.Version], ["State", label(p.State)],
                ["Status", status], ["Last operation", p.LastOperation]];
            for (const [title, value] of cells) {
                const td = document.createElement("td");
                td.dataset.label = title;
                td.dataset.field = "extension." + title;
                td.append(value instanceof Node ? value : document.createTextNode(value || ""));
                row.append(td);
            }
            const actions = document.createElement("div");
            actions.className = "wa-actions";
            actions.append(extensionButton("Enable", path, "Enable"), extensionButton("Disable", path, "Disable"));
            if (isHandler(path))
                actions.append(extensionButton("Uninstall", path, "Uninstall", run => dialog.open(
                    "Uninstall " + p.Handler + "?",
                    [paragraph("The handler's uninstall command runs and its directory under the agent's state is deleted. " +
                               "The fabric may install it again with the next goal state that lists it.")],
                    "Uninstall", run)));
            const td = document.createElement("td");
            td.dataset.label = "Actions";
            td.append(actions);
            row.append(td);
            body.append(row);
        }
        $("extensions-empty").hidden = paths.length > 0;
    }

    function watchExtensions() {
        watch(EXTENSIONS, renderGoalState);
        const handlers = client(EXTENSIONS).proxies(EXTENSION, pathOf(EXTENSIONS));
        const render = () => renderExtensions(handlers);
        for (const event of ["added", "changed", "removed"])
            handlers.addEventListener(event, render);
        handlers.wait(render);
    }

    // ---- actions -------------------------------------------------------------------------------------

    $("swap-form").addEventListener("submit", event => {
        event.preventDefault();
        const size = Number($("swap-size").value);
        act($("swap-apply"), "Cannot set the swap size",
            () => call(DISK, pathOf(DISK), DISK, "SetSwap", [size], INTERACTIVE),
            () => { swapEdited = false; showSuccess("Swap size set", size + " MiB") });
    });

    // The log bundle crosses the bus as a file descriptor, which Cockpit's D-Bus channel cannot
    // carry: the waagent command builds it and calls Wire1.UploadLogs as this user (polkit
    // org.waagent.collect-logs). Its last line is the result or the service's message.
    $("collect-logs").addEventListener("click", () => {
        const button = $("collect-logs");
        button.disabled = true;
        $("collect-logs-result").textContent = "Collecting…";
        const lastLine = text => (text || "").trim().split("\n").pop();
        cockpit.spawn(["waagent", "-collect-logs"], { err: "out" })
                .then(output => {
                    $("collect-logs-result").textContent = "";
                    showSuccess("Logs collected", lastLine(output));
                }, (ex, output) => {
                    $("collect-logs-result").textContent = "";
                    showAlert("danger", "Cannot collect logs",
                              (lastLine(output) || errorText(ex)).replace(/^waagent: /, ""));
                })
                .always(() => { button.disabled = false });
    });

    function openDeprovision() {
        let deleteUser = false;
        const warnings = document.createElement("div");
        const toggle = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.id = "deprovision-user";
        toggle.append(box, " Also delete the provisioned user and its home directory");
        const plan = () => call(PROVISIONER, pathOf(PROVISIONER), PROVISIONER, "PlanDeprovision", [deleteUser])
                .then(([lines]) => warnings.replaceChildren(
                    paragraph("This deletes, and cannot be undone:"), list(lines)));
        // A first plan that fails opens no dialog (act shows why); a later one fails inside it.
        box.addEventListener("change", () => { deleteUser = box.checked; plan().catch(ex => dialog.fail(ex)) });
        return plan().then(() => dialog.open(
            "Deprovision this VM?",
            [warnings, toggle, paragraph("Afterwards the VM is ready to be captured as an image; " +
                                         "it is provisioned again at its next boot.")],
            "Deprovision",
            () => call(PROVISIONER, pathOf(PROVISIONER), PROVISIONER, "Deprovision", [deleteUser], INTERACTIVE)
                    .then(() => showSuccess("Deprovisioned", "The VM is ready for capture."))));
    }
    $("deprovision").addEventListener("click", () => act($("deprovision"), "Cannot plan deprovisioning", openDeprovision));

    function openSerialConsole() {
        const method = (enable, dryRun) =>
            call(PROVISIONER, pathOf(PROVISIONER), PROVISIONER, "ConfigureSerialConsole", [enable, dryRun], INTERACTIVE);
        return method(true, true).then(([changed, diff, , message]) => {
            const pre = document.createElement("pre");
            pre.textContent = diff || "(nothing to change: ttyS0 is already the boot console)";
            dialog.open("Serial console on ttyS0",
                        [paragraph(message || "The kernel command line gets console=ttyS0 earlyprintk=ttyS0."), pre],
                        "Enable serial console",
                        () => method(true, false).then(([, , , done]) => showSuccess("Serial console", done)));
        });
    }

    function watchSerialConsole() {
        // Offered only where the provisioner has the method (it came with the 2.0 command).
        call(PROVISIONER, pathOf(PROVISIONER), "org.freedesktop.DBus.Introspectable", "Introspect")
                .then(([xml]) => {
                    $("serial-console").hidden = !xml.includes('name="ConfigureSerialConsole"');
                })
                .catch(() => {});
        $("serial-console").addEventListener("click", () =>
            act($("serial-console"), "Serial console", openSerialConsole));
    }

    // ---- start ---------------------------------------------------------------------------------------

    watchServices();
    const wire = watch(WIRE, renderWire);
    client(WIRE).subscribe({ interface: WIRE, member: "GoalStateChanged", path: pathOf(WIRE) },
                           () => readLastContact());
    watch(PROVISIONER, renderProvisioning);
    watch(DISK, renderDisk);
    watchExtensions();
    watchSerialConsole();
    window.waagentPage = { wire }; // for debugging from the browser console
}());
