"""Fixtures of the notify tests: a node (SQLite and PostgreSQL), the SMS gateway stub and a
real SMTP server (tests/node/notify/stubs.py)."""
from __future__ import annotations

import pytest

from tests.node.notify.stubs import MailServer, SmsGateway, configure

SECRET = "gateway-secret"


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    with n.activate():
        yield n


@pytest.fixture
def sms(node):
    """The gateway stub, configured as the node's ``notify.sms_url``."""
    with SmsGateway(secret=SECRET) as gateway:
        configure(node, sms_url=gateway.url, sms_secret=SECRET)
        yield gateway


@pytest.fixture
def mail(node):
    """A real SMTP server, configured as the node's ``notify.smtp_host``."""
    with MailServer() as server:
        configure(node, smtp_host=server.host, smtp_port=server.port, mail_from="12315@nanshan.example.cn")
        yield server
