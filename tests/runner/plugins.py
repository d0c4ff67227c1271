"""Small real plugins, each doing one thing a test needs to watch."""

PREAMBLE = "import os, sys, time, json\nfrom batchworks_sdk import IntegrationBatchPlugin\n\n"


def plugin(body: str) -> bytes:
    """A plugin module whose run(self, context) is `body`."""
    indented = "\n".join(f"        {line}" for line in body.strip().splitlines())
    return (
        PREAMBLE
        + f"class Plugin(IntegrationBatchPlugin):\n    def run(self, context):\n{indented}\n"
    ).encode()


SUCCEEDS = plugin("""
print("hello from stdout")
print("hello from stderr", file=sys.stderr)
context.logger.info("rows=%s", context.parameters.get("rows"))
context.progress(completed=7, failed=1, total=10)
properties = context.properties
return {"provider": properties.get("provider"), "batch_size": properties.get("batch_size")}
""")

RAISES = plugin("""
print("about to fail")
raise ValueError("row 3: 'amount' is not a number")
""")

SLEEPS = plugin("""
print("sleeping", flush=True)
time.sleep(60)
""")

IGNORES_SIGTERM = plugin("""
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("you cannot stop me", flush=True)
time.sleep(60)
""")

EATS_MEMORY = plugin("""
hog = bytearray(1024 * 1024 * 1024)
return len(hog)
""")

WRITES_A_BIG_FILE = plugin("""
with open(context.scratch_dir / "big.bin", "wb") as f:
    for _ in range(64):
        f.write(b"x" * 1024 * 1024)
""")

WRITES_MANY_FILES = plugin("""
for i in range(64):
    (context.scratch_dir / f"part-{i}.bin").write_bytes(b"x" * 1024 * 1024)
time.sleep(30)
""")

COUNTS_CPUS = plugin("""
return len(os.sched_getaffinity(0))
""")

REPORTS_ITS_ORIGIN = plugin("""
platform = ("django", "config", "apps", "rest_framework", "psycopg")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in platform)
return {"parent": os.getppid(), "platform_modules": loaded}
""")

REPORTS_ENVIRONMENT = plugin("""
return sorted(os.environ)
""")

CHATTERS = plugin("""
for i in range(2000):
    print(f"line {i:05d} " + "." * 80)
""")

RETURNS_NON_JSON = plugin("""
return {1, 2, 3}
""")

EXITS_HARD = plugin("""
os._exit(3)
""")

PRINTS_AND_RETURNS_UNSTORABLE_TEXT = plugin("""
print("before\\x00after")
return {"na\\x00me": "lone \\ud800 surrogate", "list": ["ok", "nul\\x00"]}
""")

FAILS_WITH_UNSTORABLE_TEXT = plugin("""
raise ValueError("row\\x00 3 \\udfff")
""")

RETURNS_A_DEEP_RESULT = plugin("""
deep = []
for _ in range(500):
    deep = [deep]
return deep
""")
