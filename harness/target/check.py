"""Connect to each part of an external target and say, one line each, whether it works.

    ingress      ok    https://gw answered 200 in 12 ms (Host: shop.example)
    prometheus   ok    http://prom:9090: istio_requests_total has series for 4/4 services
                       (the dialect's `service_requests`, per receiving workload); a
                       counter SLOs read (retries...) Prometheus has neither a series
                       nor metadata of is named: SLOs on it would not be judged
    kubernetes   ok    https://api:6443 (context staging) answers: v1.36.3
    crds         ok    virtualservices.networking.istio.io v1, destinationrules... v1
    access shop  FAIL  may not delete destinationrules.networking.istio.io, delete pods
    toxiproxy    ok    http://toxiproxy:8474: proxies frontend--catalog
    traces       ok    the OTLP receiver can listen on 0.0.0.0:4318; whether the mesh
                       exports there is seen in a run

Everything is read, nothing is changed (a SelfSubjectAccessReview is a question, not an
object). A part's failure is its own line; one failed part makes `target check` exit 2.
A part the target file leaves out is not checked (its line says so) and does not fail.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from harness.observe.dialects import SERVICE, NoData, dialect_for
from harness.observe.families import family_known
from harness.observe.promql import add_matchers
from harness.target.access import Permission, needed_crds, needed_permissions
from mesh_runtime.errors import MeshproofError
from mesh_runtime.kube.errors import KubeForbidden, KubeNotFound
from mesh_runtime.kube.resources import NAMESPACE, Resource
from mesh_runtime.runtimes.ports import listen_problem
from mesh_runtime.target import (
    MESH_KINDS,
    IngressAccess,
    KubernetesAccess,
    MeshKind,
    PrometheusAccess,
    TargetFile,
    ToxiproxyAccess,
    TracesSpec,
)

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PartCheck:
    """What one part's check found."""

    part: str
    ok: bool
    detail: str
    checked: bool = True
    """False: the target file leaves the part out, so there was nothing to check."""

    def line(self) -> str:
        word = "ok" if self.ok and self.checked else ("-" if not self.checked else "FAIL")
        return f"{self.part:<14} {word:<5} {self.detail}"


Needs = Mapping[str, Sequence[Permission]]
"""Namespace -> the calls the faults make there."""


def check_target(
    target: TargetFile, timeout_s: float = TIMEOUT_S, needs: Needs | None = None
) -> list[PartCheck]:
    """Every part of `target`, checked in order (see the module docstring). `needs`: only
    what some experiments' faults need (`access.experiment_needs`); None: everything the
    mesh's faults may need in every listed namespace."""
    checks = [
        guarded("ingress", lambda: check_ingress(target.ingress, timeout_s)),
        guarded(
            "prometheus",
            lambda: check_prometheus(
                target.prometheus, target.mesh, list(target.services or {}), timeout_s
            ),
        ),
    ]
    if target.kubernetes is None:
        checks.append(PartCheck("kubernetes", True, "not given: no fault goes through it", False))
    else:
        checks.extend(check_kubernetes(target.kubernetes, target.mesh, timeout_s, needs))
    if target.toxiproxy is None:
        checks.append(PartCheck("toxiproxy", True, "not given: no network fault", False))
    else:
        toxiproxy = target.toxiproxy
        checks.append(guarded("toxiproxy", lambda: check_toxiproxy(toxiproxy, timeout_s)))
    if target.traces is None:
        checks.append(PartCheck("traces", True, "not given: no spans are collected", False))
    else:
        traces = target.traces
        checks.append(guarded("traces", lambda: check_traces(traces)))
    return checks


def guarded(part: str, check: Callable[[], PartCheck]) -> PartCheck:
    """`check()`, with any meshproof error (an unreadable token file...) as its FAIL line."""
    try:
        return check()
    except MeshproofError as exc:
        return PartCheck(part, False, str(exc))


# --- ingress ------------------------------------------------------------------------------


def ingress_pool(ingress: IngressAccess, timeout_s: float) -> urllib3.PoolManager:
    """A pool that speaks to the ingress as the load does: CA or skip-verify, client
    certificate, the Host header's name for SNI and the certificate check."""
    options: dict[str, Any] = {}
    if ingress.tls:
        options["server_hostname"] = ingress.server_name
        if ingress.insecure_skip_verify:
            options["cert_reqs"] = "CERT_NONE"
        else:
            options.update(cert_reqs="CERT_REQUIRED", assert_hostname=ingress.server_name)
            if ingress.ca_file is not None:
                options["ca_certs"] = str(ingress.ca_file)
        if ingress.client_cert is not None:
            options["cert_file"] = str(ingress.client_cert)
            if ingress.client_key is not None:
                options["key_file"] = str(ingress.client_key)
    return urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False, **options)


def check_ingress(ingress: IngressAccess, timeout_s: float) -> PartCheck:
    """The ingress answers GET / with a 2xx or 3xx, as the load will ask it."""
    url = f"{ingress.url}/"
    began = time.monotonic()
    try:
        with ingress_pool(ingress, timeout_s) as pool, chosen_insecurity():
            response = pool.request(
                "GET", url, headers=ingress.request_headers(), redirect=False, preload_content=True
            )
    except urllib3.exceptions.HTTPError as exc:
        return PartCheck("ingress", False, f"{url}: no answer: {_reason(exc)}")
    took_ms = (time.monotonic() - began) * 1000
    host = f" (Host: {ingress.host})" if ingress.host else ""
    answer = f"{url} answered {response.status} in {took_ms:.0f} ms{host}"
    if response.status >= 400:
        return PartCheck("ingress", False, f"{answer}; the load needs a 2xx")
    return PartCheck("ingress", True, answer)


@contextmanager
def chosen_insecurity() -> Iterator[None]:
    """No warning about an unverified certificate: the target file asked for it
    (`insecure_skip_verify`), and the check's lines say what was reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests / urllib3 error, on one line (a certificate
    failure, a refused connection), not the wrappers' retry text."""
    cause = exc
    for _ in range(6):
        inner = getattr(cause, "reason", None)
        if not isinstance(inner, BaseException) and cause.args:
            inner = cause.args[0]
        if not isinstance(inner, BaseException):
            break
        cause = inner
    return " ".join(str(cause).split())[:300]


# --- Prometheus ---------------------------------------------------------------------------


def request_series_query(mesh: MeshKind, selector: str) -> tuple[str, str]:
    """The mesh dialect's request counter (`service_requests`), counted per receiving
    workload (`mp_service`) within the target's matchers; and the counter's metric name."""
    dialect = dialect_for(mesh)
    entry = dialect.signals["service_requests"]
    query = dialect.bind().query("service_requests")
    if query is None or isinstance(entry, NoData):  # every dialect counts requests today
        raise MeshproofError(f"the {mesh} dialect has no request counter")
    return f"count by ({SERVICE}) ({add_matchers(query, selector)})", entry.selector.metric


def prometheus_query(
    access: PrometheusAccess, query: str, timeout_s: float
) -> list[dict[str, Any]]:
    """An instant query's result; MeshproofError (one line) when Prometheus does not answer."""
    data = prometheus_api(access, "query", {"query": query}, f"query {query}", timeout_s)
    result = data.get("result", []) if isinstance(data, dict) else []
    return list(result) if isinstance(result, list) else []


def prometheus_api(
    access: PrometheusAccess, path: str, params: dict[str, str], what: str, timeout_s: float
) -> Any:
    """The `data` of Prometheus's `/api/v1/<path>`; MeshproofError (one line naming `what`)
    when Prometheus does not answer or refuses."""
    try:
        with chosen_insecurity():
            response = requests.get(
                f"{access.url}/api/v1/{path}",
                params=params,
                headers=access.headers(),
                verify=access.verify(),
                timeout=timeout_s,
            )
    except requests.RequestException as exc:
        raise MeshproofError(f"{access.url}: no answer: {_reason(exc)}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or body.get("status") != "success":
        error = body.get("error") or response.reason
        raise MeshproofError(f"{access.url}: {response.status_code} {error} ({what})")
    return body.get("data")


def unknown_counters(access: PrometheusAccess, mesh: MeshKind, timeout_s: float) -> str:
    """The families of the dialect's counted signals (retries, ejections, overflows) the
    target does not export (`harness.observe.families`: no series within its matchers), as
    a clause ('' when it exports each): an SLO on one would not be judged
    (`harness.observe.dialects.COUNTED`)."""

    def has_series(query: str) -> bool:
        return bool(prometheus_query(access, query, timeout_s))

    selector = access.selector()

    def has_metadata(family: str, targeted: bool) -> bool:
        path, params = "metadata", {"metric": family}
        if targeted:
            path, params = "targets/metadata", {**params, "match_target": f"{{{selector}}}"}
        return bool(prometheus_api(access, path, params, family, timeout_s))

    unknown = [
        f"{family} ({signal})"
        for signal, family in dialect_for(mesh).bind().silent_counters(()).items()
        if not family_known(
            family, selector, None, has_series=has_series, has_metadata=has_metadata
        )
    ]
    if not unknown:
        return ""
    them = "it" if len(unknown) == 1 else "them"
    within = f" within {{{selector}}}" if selector else ""
    return f"; no series of {', '.join(unknown)}{within}: SLOs on {them} would not be judged"


NOT_SERVING = "is the mesh serving? a mesh that had no traffic yet has no series"
"""Why the request counter may have no series at all (right after `meshproof up`)."""


def check_prometheus(
    access: PrometheusAccess, mesh: MeshKind, services: Sequence[str], timeout_s: float
) -> PartCheck:
    """Prometheus has the dialect's request metric for every named service (any, when the
    target names none)."""
    where, found, hint = request_series(access, mesh, timeout_s)
    if not services:
        if not found:
            why = hint or f" ({NOT_SERVING})"
            return PartCheck("prometheus", False, f"{where} has no series{why}")
        unknown = unknown_counters(access, mesh, timeout_s)
        return PartCheck(
            "prometheus", True, f"{where} has series for {len(found)} workloads{unknown}"
        )
    missing = [s for s in services if s not in found]
    if missing:
        named = ", ".join(sorted(found - {""})) or "none"
        serving = f"; {NOT_SERVING}" if not found and not hint else ""
        return PartCheck(
            "prometheus",
            False,
            f"{where} has no series for {', '.join(missing)} (found: {named}{serving}){hint}",
        )
    counted = f"{len(services)}/{len(services)} services"
    unknown = unknown_counters(access, mesh, timeout_s)
    return PartCheck("prometheus", True, f"{where} has series for {counted}{unknown}")


def request_series(
    access: PrometheusAccess, mesh: MeshKind, timeout_s: float
) -> tuple[str, set[str], str]:
    """The mesh's request counter as Prometheus holds it: where it was asked ('URL: metric
    {matchers}'), the workloads its series name ('' for a series naming none), and, when
    none names one, `other_dialect_hint`."""
    query, metric = request_series_query(mesh, access.selector())
    result = prometheus_query(access, query, timeout_s)
    found = {str(series.get("metric", {}).get(SERVICE, "")) for series in result}
    where = f"{access.url}: {metric}" + (f"{{{access.selector()}}}" if access.matchers else "")
    hint = other_dialect_hint(access, mesh, timeout_s) if not found - {""} else ""
    return where, found, hint


def before_a_run(target: TargetFile, timeout_s: float = TIMEOUT_S) -> list[PartCheck]:
    """What would make a run against `target` measure nothing true, checked before it
    starts (`meshproof run` refuses on any): a Prometheus that does not answer, or holds
    another mesh's request counter and none of the file's (the wrong `mesh:`), a
    Toxiproxy proxy left disabled or with toxics. Unlike `target check`, a counter without
    any series passes (a mesh may have had no traffic yet), and the ingress is not asked:
    a request of the check's would be counted by the mesh, and an ingress that does not
    answer shows in the run's own errors."""
    failed = [guarded("prometheus", lambda: _metrics_named(target, timeout_s))]
    if target.toxiproxy is not None:
        toxiproxy = target.toxiproxy
        failed.append(guarded("toxiproxy", lambda: check_toxiproxy(toxiproxy, timeout_s)))
    return [check for check in failed if not check.ok]


def _metrics_named(target: TargetFile, timeout_s: float) -> PartCheck:
    """Prometheus answers, and does not hold another mesh's counter in place of the one
    `target.mesh` names."""
    where, found, hint = request_series(target.prometheus, target.mesh, timeout_s)
    if found:
        return PartCheck("prometheus", True, f"{where} has series")
    return PartCheck("prometheus", not hint, f"{where} has no series{hint}")


def other_dialect_hint(access: PrometheusAccess, mesh: MeshKind, timeout_s: float) -> str:
    """When the mesh's request counter has no series at all: the other meshes' counters
    that do (a target file naming the wrong `mesh`), as a clause; '' when none has."""
    own = request_series_query(mesh, access.selector())[1]
    meshes_of: dict[str, list[MeshKind]] = {}
    queries: dict[str, str] = {}
    for other in MESH_KINDS:
        query, metric = request_series_query(other, access.selector())
        if metric != own:
            meshes_of.setdefault(metric, []).append(other)
            queries.setdefault(metric, query)
    present = [m for m, q in queries.items() if prometheus_query(access, q, timeout_s)]
    if not present:
        return ""
    named = " or ".join(f"`mesh: {kind}`" for m in present for kind in meshes_of[m])
    return f"; it has {', '.join(present)} instead: is the target {named}, not `mesh: {mesh}`?"


# --- Kubernetes ---------------------------------------------------------------------------


def check_kubernetes(
    access: KubernetesAccess, mesh: MeshKind, timeout_s: float, needs: Needs | None = None
) -> list[PartCheck]:
    """The API server answers; the mesh's CRDs are there; in each allowed namespace the
    credentials may make every call the faults make (SelfSubjectAccessReview): `needs`'
    calls when given (a namespace without any is not checked), else all the mesh's."""
    from mesh_runtime.kube.client import KubeClient  # the kubernetes package: only when checked

    kubeconfig = access.kubeconfig_path()
    try:
        kube = KubeClient.connect(kubeconfig, access.context, timeout_s=timeout_s)
    except MeshproofError as exc:
        return [PartCheck("kubernetes", False, str(exc))]
    with kube:
        try:
            version = kube.version()
        except MeshproofError as exc:
            return [PartCheck("kubernetes", False, str(exc))]
        checks = [
            PartCheck(
                "kubernetes", True, f"{kube.server} (context {kube.context}) answers: {version}"
            )
        ]
        checks.append(guarded("crds", lambda: check_crds(kube, needed_crds(mesh))))
        for namespace in access.namespaces:
            part = f"access {namespace}"
            if needs is not None and namespace not in needs:
                checks.append(PartCheck(part, True, "the experiments make no call here", False))
                continue
            wanted = needs[namespace] if needs is not None else needed_permissions(mesh)
            checks.append(guarded(part, _access_check(kube, namespace, wanted)))
    return checks


def _access_check(
    kube: Any, namespace: str, permissions: Sequence[Permission]
) -> Callable[[], PartCheck]:
    return lambda: check_access(kube, namespace, permissions)


def check_crds(kube: Any, resources: Sequence[Resource]) -> PartCheck:
    """Each resource is served at the version the faults use (its CRD installed), asked
    through API discovery, which needs no permission on CRDs."""
    missing = [f"{r} {r.version}" for r in resources if not kube.served(r)]
    if missing:
        return PartCheck("crds", False, f"not served (is the CRD installed?): {', '.join(missing)}")
    return PartCheck("crds", True, ", ".join(f"{r} {r.version}" for r in resources))


def check_access(kube: Any, namespace: str, permissions: Sequence[Permission]) -> PartCheck:
    """The namespace exists (where the user may read it) and every permission is granted."""
    part = f"access {namespace}"
    try:
        kube.get(NAMESPACE, None, namespace)
    except KubeNotFound:
        return PartCheck(part, False, f"namespace {namespace} does not exist")
    except KubeForbidden:
        pass  # a Role-only user may not read Namespace objects; the reviews below tell
    denied = [str(p) for p in permissions if not kube.can_i(p.verb, p.resource, namespace)]
    if denied:
        return PartCheck(
            part,
            False,
            f"the credentials may not: {', '.join(denied)} (in namespace {namespace}; the"
            " faults need them)",
        )
    return PartCheck(part, True, f"may {len(permissions)} calls the faults make in {namespace}")


# --- Toxiproxy and the OTLP receiver ------------------------------------------------------


def check_toxiproxy(access: ToxiproxyAccess, timeout_s: float) -> PartCheck:
    """The Toxiproxy API answers and holds every proxy the target names, each enabled and
    without toxics (the state a run starts from)."""
    try:
        response = requests.get(f"{access.url}/proxies", timeout=timeout_s)
        proxies = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        return PartCheck("toxiproxy", False, f"{access.url}: no answer: {_reason(exc)}")
    if not isinstance(proxies, dict):
        return PartCheck(
            "toxiproxy", False, f"{access.url}/proxies answered {response.status_code}"
        )
    missing = [p.name for p in access.proxies if p.name not in proxies]
    if missing:
        return PartCheck("toxiproxy", False, f"{access.url} has no proxy {', '.join(missing)}")
    faulted = [already_faulted(p.name, proxies[p.name]) for p in access.proxies]
    if any(faulted):
        return PartCheck(
            "toxiproxy",
            False,
            f"{access.url}: {'; '.join(f for f in faulted if f)} (a fault left in place?"
            " `meshproof recover` undoes a killed run's; the runs would start faulted)",
        )
    names = ", ".join(p.name for p in access.proxies) or "none named"
    return PartCheck("toxiproxy", True, f"{access.url}: proxies {names}")


def already_faulted(name: str, proxy: Any) -> str:
    """What of a fault a proxy already carries, as Toxiproxy describes it: disabled (the
    edge cut), toxics; '' when it passes traffic untouched."""
    if not isinstance(proxy, dict):
        return ""
    problems = [] if proxy.get("enabled", True) else ["is disabled"]
    toxics = [t.get("name", "?") for t in proxy.get("toxics") or [] if isinstance(t, dict)]
    if toxics:
        problems.append(f"carries toxics {', '.join(toxics)}")
    return f"{name} {' and '.join(problems)}" if problems else ""


def check_traces(traces: TracesSpec) -> PartCheck:
    """The harness's OTLP receiver could listen on `traces.listen` (bound, then closed).
    That the mesh sends its spans there is not shown until a run (a receiver that took no
    span leaves trace_completeness not judged, naming the address)."""
    taken = listen_problem(traces.host, traces.port)
    if taken:
        return PartCheck("traces", False, f"cannot listen on {traces.listen}: {taken}")
    return PartCheck(
        "traces",
        True,
        f"the OTLP receiver can listen on {traces.listen}; whether the mesh exports there"
        " is seen in a run",
    )
