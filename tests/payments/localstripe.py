"""A localstripe server in its own process, for the Stripe adapter's tests.

It is started on a free port of 127.0.0.1 by run_localstripe.py (no pickle on disk), and can be
stopped, frozen and started again on the same port, which is how the fault tests take the
gateway away in the middle of a charge.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LAUNCHER = Path(__file__).with_name("run_localstripe.py")
SECRET_KEY = "sk_test_channelbill"  # localstripe takes any key that starts with sk_


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStripe:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        self._process = subprocess.Popen(
            # -P: the launcher's own folder is not put on sys.path, where this module would
            # shadow the localstripe package.
            [sys.executable, "-P", str(LAUNCHER), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self._process.returncode}")
            try:
                httpx.get(f"{self.url}/v1/balance", auth=(SECRET_KEY, ""), timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"localstripe did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self.resume()  # a frozen process does not act on SIGTERM
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Gone at once, frozen or not, without answering what it was sent (its store with it:
        a start after this is an empty localstripe)."""
        if self._process is None:
            return
        self._process.kill()  # SIGKILL ends a stopped process too
        self._process.wait()
        self._process = None

    def freeze(self) -> None:
        """The process stops answering but keeps its socket: a request hangs, then times out."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.running:
            assert self._process is not None
            os.kill(self._process.pid, signal.SIGCONT)

    def unread_bytes(self) -> int:
        """What clients have sent that the process has not read yet (Linux's /proc/net/tcp): a
        frozen localstripe holding a request it will act on when resumed, or lose when killed."""
        unread = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if int(local.split(":")[1], 16) == self.port and state == "01":  # ESTABLISHED
                unread += int(queues.split(":")[1], 16)
        return unread

    def flush(self) -> None:
        """Forget every object, so that each test counts only its own."""
        httpx.delete(f"{self.url}/_config/data", timeout=5.0).raise_for_status()

    def count(self, kind: str) -> int:
        """How many objects of a kind (``payment_intents``, ``customers``) the server holds."""
        total, after = 0, None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if after:
                params["starting_after"] = after
            page = httpx.get(
                f"{self.url}/v1/{kind}", params=params, auth=(SECRET_KEY, ""), timeout=5.0
            ).json()
            total += len(page["data"])
            if not page["has_more"]:
                return total
            after = page["data"][-1]["id"]

    def objects(self, kind: str) -> list[dict[str, object]]:
        page = httpx.get(
            f"{self.url}/v1/{kind}", params={"limit": 100}, auth=(SECRET_KEY, ""), timeout=5.0
        ).json()
        return list(page["data"])

    def create_card(self, number: str) -> str:
        """A PaymentMethod for a test card number, as Stripe.js would make one."""
        response = httpx.post(
            f"{self.url}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
            auth=(SECRET_KEY, ""),
            timeout=5.0,
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def confirm_setup_intent(self, client_secret: str, number: str) -> None:
        """Confirm a SetupIntent with a card as Elements does: publishable key, client secret."""
        response = httpx.post(
            f"{self.url}/v1/setup_intents/{client_secret.split('_secret_')[0]}/confirm",
            data={
                "key": "pk_test_channelbill",
                "client_secret": client_secret,
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": number,
                "payment_method_data[card][exp_month]": "12",
                "payment_method_data[card][exp_year]": "2030",
                "payment_method_data[card][cvc]": "123",
            },
            timeout=5.0,
        )
        response.raise_for_status()

    def confirmed_setup_intent(self, number: str, account: str) -> str:
        """A SetupIntent made for an account (in its metadata, no customer yet), confirmed with
        a card the way Elements does it in the browser: the publishable key and the intent's
        client secret, no secret key."""
        intent = httpx.post(
            f"{self.url}/v1/setup_intents",
            data={"usage": "off_session", "metadata[account]": account},
            auth=(SECRET_KEY, ""),
            timeout=5.0,
        ).json()
        response = httpx.post(
            f"{self.url}/v1/setup_intents/{intent['id']}/confirm",
            data={
                "key": "pk_test_channelbill",
                "client_secret": intent["client_secret"],
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": number,
                "payment_method_data[card][exp_month]": "12",
                "payment_method_data[card][exp_year]": "2030",
                "payment_method_data[card][cvc]": "123",
            },
            timeout=5.0,
        )
        response.raise_for_status()
        return str(intent["id"])
