import pytest

from livecam_widget._origin import OriginPolicy, is_loopback, origin_of


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://localhost:8888",
        "http://127.0.0.1:1",
        "https://127.3.4.5",
        "http://[::1]:8888",
        "http://a.localhost",
    ],
)
def test_loopback_and_missing_origins_are_allowed(origin: str | None) -> None:
    assert OriginPolicy(env="", jupyter_origins=set).allows(origin)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://localhost.evil.example", "http://10.0.0.5:8888", "garbage"],
)
def test_other_origins_are_refused(origin: str) -> None:
    assert not OriginPolicy(env="", jupyter_origins=set).allows(origin)


def test_user_env_and_jupyter_origins(clock) -> None:
    calls: list[int] = []

    def jupyter() -> set[str]:
        calls.append(1)
        return {"http://hub.example:8000"}

    policy = OriginPolicy(
        ["https://MY.host/"], env="http://a.example, ", jupyter_origins=jupyter, clock=clock
    )
    assert policy.allows("https://my.host")
    assert policy.allows("http://a.example")
    assert policy.allows("http://hub.example:8000")
    assert not policy.allows("http://other.example")
    assert len(calls) == 1  # refused origins do not re-read the runtime files every time
    clock.advance(OriginPolicy.REFRESH_S)
    assert not policy.allows("http://other.example")
    assert len(calls) == 2
    assert OriginPolicy(env="*", jupyter_origins=set).allows("https://anything.example")


def test_helpers() -> None:
    assert origin_of("HTTP://Example.com:80/path?q") == "http://example.com:80"
    assert origin_of("nonsense") is None
    assert is_loopback("http://127.0.0.1:5") and not is_loopback("http://8.8.8.8")


@pytest.mark.parametrize(
    "origin",
    [
        "vscode-webview://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1",
        "vscode-webview://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1/",
        "vscode-webview://6c1b0d2c-6a3e-4b0f-9a3e-1f2d3c4b5a69",
        "vscode-webview://6c1b0d2c-6a3e-4b0f-9a3e-1f2d3c4b5a69/",
        "https://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1.vscode-cdn.net",
    ],
)
def test_vscode_webview_origins_are_allowed(origin: str) -> None:
    assert OriginPolicy(env="", jupyter_origins=set).allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "vscode-webview://evil.example",
        "vscode-webview://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1.evil.example",
        "vscode-webview://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1/x",
        "http://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1.vscode-cdn.net",
        "https://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1.vscode-cdn.net.evil.example",
        "https://evil.example/.vscode-cdn.net",
        "https://a.b.vscode-cdn.net",
        "vscode-webview-evil://1ks6ocisc3hm62ffedtm1mr9ruk56jncbg9pta8m1n72ujugu8c1",
    ],
)
def test_vscode_look_alikes_are_refused(origin: str) -> None:
    assert not OriginPolicy(env="", jupyter_origins=set).allows(origin)
