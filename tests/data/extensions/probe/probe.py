#!/usr/bin/python3
"""A test extension handler that follows the classic handler protocol, as real ones do.

It reads HandlerEnvironment.json and its settings file, decrypts its protected settings with
`openssl smime` and the tenant certificate in Lib.Dir (the parent of its own directory), appends
one JSON line per operation to <logFolder>/operations.log (operation, seqNo, extension, version,
time, the environment the agent gave it), and on enable writes its status file. What it does is
steered by its public settings:

    fail: [operations]      exit with `exit_code` (default 1)
    hang: [operations]      start a child that sleeps, then sleep (its pids go to hang.pids)
    flood: [operations]     print 100 MB to stdout
    sleep: {operation: s}   sleep that long before finishing the operation
    sleep_once: {op: s}     the same, only the first time (a marker stays in the log folder)
    status: success | error | transitioning | invalid | half | huge | none
    status_delay: seconds   write the status from a background child after this long
    event: text             on enable, drop a telemetry event with this message in eventsFolder
    stop_agent_once: [ops]  SIGTERM the extd that ran it, then finish at once, as an extension
                            restarting the agent does (only the first time, like sleep_once)
    heartbeat: text         on enable, write heartbeat.log (status ready) with this message

Like real handlers it keeps the sequence number it last enabled in `mrseq`, and on update it
records the `mrseq` it found (the agent carries it over from the previous version).
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATION = sys.argv[1] if len(sys.argv) > 1 else ""
# The classic variable names are mixed case: a contract with the agent.
SEQ = os.environ.get("ConfigSequenceNumber", "0")  # noqa: SIM112
EXTENSION = os.environ.get("ConfigExtensionName", "")  # noqa: SIM112
PREFIX = f"{EXTENSION}." if EXTENSION else ""
AGENT_VARIABLES = (
    "AZURE_GUEST_AGENT_EXTENSION_PATH",
    "AZURE_GUEST_AGENT_EXTENSION_VERSION",
    "AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS",
    "AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES",
    "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE",
    "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION",
    "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE",
    "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS",
    "ConfigSequenceNumber",
    "ConfigExtensionName",
    "VERSION",
)


def environment():
    with open(os.path.join(HERE, "HandlerEnvironment.json")) as f:
        return json.load(f)[0]["handlerEnvironment"]


def settings(env):
    path = os.path.join(env["configFolder"], f"{PREFIX}{SEQ}.settings")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    return json.loads(text)["runtimeSettings"][0]["handlerSettings"]


def decrypt(handler_settings):
    """The protected settings, decrypted with the tenant certificate the agent put in Lib.Dir."""
    protected = handler_settings.get("protectedSettings")
    if not protected:
        return None
    thumbprint = handler_settings["protectedSettingsCertThumbprint"]
    lib_dir = os.path.dirname(HERE)
    result = subprocess.run(
        [
            "openssl",
            "smime",
            "-inform",
            "DER",
            "-decrypt",
            "-recip",
            os.path.join(lib_dir, f"{thumbprint}.crt"),
            "-inkey",
            os.path.join(lib_dir, f"{thumbprint}.prv"),
        ],
        input=base64.b64decode(protected),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError("cannot decrypt: " + result.stderr.decode(errors="replace").strip())
    return json.loads(result.stdout)


def record(env, **fields):
    line = {
        "operation": OPERATION,
        "seq": SEQ,
        "extension": EXTENSION,
        "version": os.environ.get("AZURE_GUEST_AGENT_EXTENSION_VERSION", ""),
        "time": time.time(),
        "pid": os.getpid(),
        "env": {k: os.environ[k] for k in AGENT_VARIABLES if k in os.environ},
        **fields,
    }
    os.makedirs(env["logFolder"], exist_ok=True)
    with open(os.path.join(env["logFolder"], "operations.log"), "a") as f:
        f.write(json.dumps(line) + "\n")


def status_document(state, message):
    return [
        {
            "version": 1.0,
            "timestampUTC": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": {
                "name": EXTENSION or "Waagent.Test.Probe",
                "operation": "Enable",
                "configurationAppliedTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "status": state,
                "code": 0 if state != "error" else 42,
                "formattedMessage": {"lang": "en-US", "message": message},
                "substatus": [
                    {
                        "name": "probe",
                        "status": "success",
                        "code": 0,
                        "formattedMessage": {"lang": "en-US", "message": "substatus of the probe"},
                    }
                ],
            },
        }
    ]


def write_status(env, kind, message):
    path = os.path.join(env["statusFolder"], f"{PREFIX}{SEQ}.status")
    if kind == "none":
        return
    if kind == "invalid":
        data = "this is { not json"
    elif kind == "half":
        whole = json.dumps(status_document("success", message))
        data = whole[: len(whole) // 2]
    elif kind == "huge":
        data = json.dumps(status_document("success", "x" * (10 * 1024 * 1024)))
    else:
        data = json.dumps(status_document(kind, message))
    with open(path + ".tmp", "w") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def write_event(env, text):
    event = {
        "Version": "1.0",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "TaskName": "probe",
        "EventLevel": "Informational",
        "Message": text,
        "EventPid": str(os.getpid()),
        "EventTid": "1",
        "OperationId": "op-1",
    }
    name = os.path.join(env["eventsFolder"], f"{time.time_ns()}.json")
    with open(name + ".tmp", "w") as f:
        json.dump(event, f)
    os.replace(name + ".tmp", name)


def running_extd():
    """The nearest ancestor whose command line names extd (sh -c may stand between)."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"extd" in f.read():
                return pid
        with open(f"/proc/{pid}/stat", "rb") as f:
            pid = int(f.read().rsplit(b")", 1)[1].split()[1])
    return None


def main():
    env = environment()
    handler = settings(env)
    public = handler.get("publicSettings") or {}
    secret = None
    try:
        secret = decrypt(handler) if OPERATION == "enable" else None
    except RuntimeError as exc:
        record(env, error=str(exc))
        write_status(env, "error", str(exc))
        return 3
    mrseq_path = os.path.join(HERE, "mrseq")
    mrseq = None
    if os.path.exists(mrseq_path):
        with open(mrseq_path) as f:
            mrseq = f.read().strip()
    record(env, public=public, decrypted=secret is not None, mrseq=mrseq)
    time.sleep(float(public.get("sleep", {}).get(OPERATION, 0)))
    once = os.path.join(env["logFolder"], f"slept.{OPERATION}")
    if OPERATION in public.get("sleep_once", {}) and not os.path.exists(once):
        open(once, "w").close()
        time.sleep(float(public["sleep_once"][OPERATION]))
    stopped = os.path.join(env["logFolder"], f"stopped-agent.{OPERATION}")
    if OPERATION in public.get("stop_agent_once", []) and not os.path.exists(stopped):
        open(stopped, "w").close()
        extd = running_extd()
        record(env, stopped_agent=extd)
        if extd is not None:
            os.kill(extd, signal.SIGTERM)
    if OPERATION in public.get("hang", []):
        child = subprocess.Popen(["sleep", "1000"])
        with open(os.path.join(env["logFolder"], "hang.pids"), "w") as f:
            f.write(f"{os.getpid()} {child.pid}\n")
        time.sleep(1000)
    if OPERATION in public.get("flood", []):
        block = b"flood " * 10922 + b"\n"
        for _ in range(1600):  # 100 MB
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
    if OPERATION in public.get("fail", []):
        print(f"{OPERATION} fails on purpose", file=sys.stderr)
        return int(public.get("exit_code", 1))
    if OPERATION == "enable" and public.get("event"):
        write_event(env, str(public["event"]))
    if OPERATION == "enable" and public.get("heartbeat"):
        beat = {
            "status": "ready",
            "code": 0,
            "formattedMessage": {"lang": "en-US", "message": public["heartbeat"]},
        }
        with open(env["heartbeatFile"], "w") as f:
            json.dump([{"version": 1.0, "heartbeat": beat}], f)
    if OPERATION == "enable":
        with open(mrseq_path, "w") as f:
            f.write(SEQ)
        message = json.dumps({"public": public, "protected": secret}, sort_keys=True)
        kind = public.get("status", "success")
        delay = float(public.get("status_delay", 0))
        if delay and os.fork() == 0:
            os.setsid()
            time.sleep(delay)
            write_status(env, kind, message)
            record(env, written=kind)
            os._exit(0)
        if not delay:
            write_status(env, kind, message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
