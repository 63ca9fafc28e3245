"""A Kubernetes API emulator for the end-to-end tier: kmock's KubernetesEmulator, extended
where it is simpler than a real API server.

kmock stores objects as JSON and merges patches into them; it serves discovery, lists and real
watch streams. This harness adds what Release Passport relies on and a real API server does:

- metadata.uid, creationTimestamp, generation and a global resourceVersion on every object;
- generation bumps when `spec` changes, never for status writes;
- server-side apply (`application/apply-patch+yaml`) creates a missing object;
- the status subresource: a write to `/status` changes only `status`, and replaces it whole (as
  server-side apply by its single owner would; kmock alone would merge stale keys in);
- writes to the main resource cannot change `status`;
- TokenReview (`user-NAME` and `e2e` tokens are valid) and SubjectAccessReview (all allowed
  but the user `nobody`);
- SelfSubjectReview: the bearer token `user-NAME` is NAME, any other is `e2e`;
- Status reasons as a real API server names them (`NotFound`, `AlreadyExists`);
- garbage collection of dependents: deleting an object deletes those whose ownerReferences name
  its uid (the job of kube-controller-manager, which no emulator runs).

Usage: python3 kube_emulator.py PORT   (prints "READY <port>" when serving)
"""

import asyncio
import datetime
import itertools
import sys
import uuid

import aiohttp.web
import kmock
from kmock._internal import enums

PASSPORT = 'releasepassport.io/v1alpha1'
RESOURCES = {
    f'{PASSPORT}/releases': dict(kind='Release', shortnames={'rel'}),
    f'{PASSPORT}/releasepassports': dict(kind='ReleasePassport', shortnames={'rp'}),
    f'{PASSPORT}/gatepolicies': dict(kind='GatePolicy', shortnames={'gp'}),
    f'{PASSPORT}/connectors': dict(kind='Connector', shortnames={'conn'}),
    f'{PASSPORT}/approvals': dict(kind='Approval'),
    f'{PASSPORT}/waivers': dict(kind='Waiver'),
}
VERBS = {'get', 'list', 'watch', 'create', 'update', 'patch', 'delete'}


class Emulator(kmock.KubernetesEmulator):
    _versions = itertools.count(1000)

    async def _handle(self, request):
        if request.resource is not None and request.resource.plural == 'selfsubjectreviews':
            # Who the bearer token is: `user-NAME` tokens are NAME, any other token is "e2e".
            token = request.headers.get('Authorization', '').removeprefix('Bearer ').strip()
            name = token.removeprefix('user-') if token.startswith('user-') else 'e2e'
            return aiohttp.web.json_response({
                'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview', 'metadata': {},
                'status': {'userInfo': {'username': name, 'groups': ['system:authenticated', 'approvers']}},
            }, status=201)
        if request.resource is not None and request.resource.plural == 'tokenreviews':
            # `user-NAME` tokens (and the harness's own `e2e`) are valid; anything else is not.
            token = ((request.data or {}).get('spec') or {}).get('token', '')
            name = token.removeprefix('user-') if token.startswith('user-') else ('e2e' if token == 'e2e' else None)
            status = {'authenticated': True, 'user': {'username': name, 'groups': ['system:authenticated']}} if name else {'authenticated': False}
            return aiohttp.web.json_response({'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview', 'metadata': {}, 'spec': request.data.get('spec', {}), 'status': status}, status=201)
        if request.resource is not None and request.resource.plural == 'subjectaccessreviews':
            # Everybody may read, except the user `nobody`.
            user = ((request.data or {}).get('spec') or {}).get('user', '')
            return aiohttp.web.json_response({'apiVersion': 'authorization.k8s.io/v1', 'kind': 'SubjectAccessReview', 'metadata': {}, 'spec': request.data.get('spec', {}), 'status': {'allowed': user != 'nobody'}}, status=201)
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            now = datetime.datetime.now(tz=datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
            meta = data.setdefault('metadata', {})
            if request.action == enums.action.CREATE:
                meta.setdefault('uid', str(uuid.uuid4()))
                meta.setdefault('creationTimestamp', now)
                meta.setdefault('generation', 1)
                meta['resourceVersion'] = str(next(self._versions))
                if request.namespace and 'namespace' not in meta:
                    meta['namespace'] = request.namespace
            elif request.action == enums.action.UPDATE and request.name is not None:
                key = (request.resource, request.namespace, request.name)
                current = self._objects[key] if key in self._objects else None
                applying = 'apply-patch' in request.headers.get('Content-Type', '')
                if (current is None or current.deleted) and applying and request.subresource is None:
                    # Server-side apply creates what does not exist yet.
                    meta.update(uid=str(uuid.uuid4()), creationTimestamp=now, generation=1,
                                resourceVersion=str(next(self._versions)), namespace=request.namespace,
                                name=request.name)
                    data.pop('status', None)
                    async with self._lock:
                        if current is None:
                            self._objects[key] = data
                        else:
                            current.create(data)
                        await self._buses[request.resource].put({'type': 'ADDED', 'object': self._objects[key].raw})
                elif current is not None and not current.deleted:
                    meta['resourceVersion'] = str(next(self._versions))
                    for immutable in ('uid', 'creationTimestamp', 'generation'):
                        meta.pop(immutable, None)
                    if request.subresource == 'status':
                        for field in list(data):
                            if field not in ('apiVersion', 'kind', 'metadata', 'status'):
                                del data[field]
                        async with self._lock:
                            current.patch({'status': None})
                    else:
                        data.pop('status', None)
                        spec = data.get('spec')
                        if spec is not None and _merged(current.raw.get('spec'), spec) != current.raw.get('spec'):
                            meta['generation'] = current.raw.get('metadata', {}).get('generation', 1) + 1
        response = await super()._handle(request)
        if request.action == enums.action.DELETE and request.name is not None:
            await self._collect_garbage()
        return response

    async def _render_error(self, exc):
        # A real API server's Status reasons (kmock says "Object Not Found"; clients match "NotFound").
        if isinstance(exc, kmock.KubernetesError):
            reasons = {404: 'NotFound', 409: 'AlreadyExists', 422: 'Invalid'}
            return aiohttp.web.json_response({
                'apiVersion': 'v1', 'kind': 'Status', 'metadata': {}, 'status': 'Failure',
                'code': exc.status, 'reason': reasons.get(exc.status, exc.reason or 'InternalError'),
                'message': exc.message or repr(exc),
            }, status=exc.status)
        return await super()._render_error(exc)

    async def _serve_list(self, request):
        # kmock's list lacks kind/apiVersion, which kubectl requires.
        payload = await super()._serve_list(request)
        info = self.resources[request.resource] if request.resource in self.resources else None
        group, version = request.resource.group, request.resource.version
        payload['apiVersion'] = f'{group}/{version}' if group else version
        payload['kind'] = f'{info.kind}List' if info is not None and info.kind else 'List'
        payload['metadata'] = {'resourceVersion': str(next(self._versions))}
        return payload

    async def _serve_version(self, request):
        # Subresources are not addressable by short name or category (kmock lists them as if).
        payload = await super()._serve_version(request)
        for entry in payload.get('resources', []):
            if '/' in entry['name']:
                entry['shortNames'] = []
                entry['categories'] = []
        return payload

    async def _collect_garbage(self):
        while True:
            async with self._lock:
                alive = {obj.raw.get('metadata', {}).get('uid') for obj in self._objects.values() if not obj.deleted}
                orphans = [
                    (key, obj) for key, obj in self._objects.items()
                    if not obj.deleted
                    for refs in [obj.raw.get('metadata', {}).get('ownerReferences') or []]
                    if refs and not any(r.get('uid') in alive for r in refs)
                ]
                for (resource, _, _), obj in orphans:
                    raw = obj.raw
                    obj.delete()
                    await self._buses[resource].put({'type': 'DELETED', 'object': raw})
            if not orphans:
                return


def _merged(base, patch):
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merged(base.get(key), value)
    return out


async def main(port: int) -> None:
    emulator = Emulator()
    for path, info in RESOURCES.items():
        emulator.resources[path] = kmock.ResourceInfo(
            namespaced=True, verbs=VERBS, categories={'passport'}, subresources={'status'},
            singular=info['kind'].lower(), **info)
    emulator.resources['events.k8s.io/v1/events'] = kmock.ResourceInfo(kind='Event', singular='event', namespaced=True, verbs=VERBS)
    emulator.resources['coordination.k8s.io/v1/leases'] = kmock.ResourceInfo(kind='Lease', singular='lease', namespaced=True, verbs=VERBS)
    emulator.resources['v1/namespaces'] = kmock.ResourceInfo(kind='Namespace', singular='namespace', namespaced=False, verbs=VERBS)
    emulator.resources['v1/secrets'] = kmock.ResourceInfo(kind='Secret', singular='secret', namespaced=True, verbs=VERBS)
    emulator.resources['v1/configmaps'] = kmock.ResourceInfo(kind='ConfigMap', singular='configmap', namespaced=True, verbs=VERBS)
    emulator.resources['authentication.k8s.io/v1/selfsubjectreviews'] = kmock.ResourceInfo(
        kind='SelfSubjectReview', singular='selfsubjectreview', namespaced=False, verbs={'create'})
    emulator.resources['authentication.k8s.io/v1/tokenreviews'] = kmock.ResourceInfo(
        kind='TokenReview', singular='tokenreview', namespaced=False, verbs={'create'})
    emulator.resources['authorization.k8s.io/v1/subjectaccessreviews'] = kmock.ResourceInfo(
        kind='SubjectAccessReview', singular='subjectaccessreview', namespaced=False, verbs={'create'})
    emulator.resources['v1/services'] = kmock.ResourceInfo(kind='Service', singular='service', namespaced=True, verbs=VERBS)
    # Inside its context, kmock renders errors as Kubernetes Status objects (404, 409, ...).
    async with emulator:
        server = aiohttp.web.Server(emulator)
        runner = aiohttp.web.ServerRunner(server)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, '127.0.0.1', port)
        await site.start()
        print(f'READY {port}', flush=True)
        await asyncio.Event().wait()


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1])))
