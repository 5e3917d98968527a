"""The bucket: blocking calls to Google Cloud Storage, errors sorted into what they mean.

``Bucket`` wraps google-cloud-storage (one client per thread: the library does not
promise thread safety) and a plain ``requests`` session for the chunks of resumable
uploads (the documented JSON API protocol: a session URL, ``Content-Range`` chunks,
``308`` with the committed ``Range``, a status query ``bytes */total``). Every call
blocks: ``cloud.CloudTier`` runs them in its own small thread pool, never on the event
loop and never in Home Assistant's executor.

Errors come out as ``BucketError`` with an ``ErrorKind``: ``auth`` (the key is malformed,
revoked, or lacks permission), ``bucket_missing``, ``network`` (unreachable, timeouts,
5xx, 429), ``conflict`` (412: the object already exists), ``session_gone`` (a resumable
session expired), ``rejected`` (any other 4xx). Their messages never hold the key, an
access token, a signature or a resumable session's id.

``STORAGE_EMULATOR_HOST`` is honoured as google-cloud-storage honours it (the default of
``emulator_host``): requests go to the emulator; without a key they are anonymous.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
import json
import os
import re
import secrets
import threading
from typing import Any, Final
from urllib.parse import quote

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.oauth2 import service_account
import google_crc32c
import requests

EMULATOR_ENV: Final = "STORAGE_EMULATOR_HOST"
SCOPES: Final = ("https://www.googleapis.com/auth/devstorage.read_write",)
_HTTP_OK: Final = (200, 201)
_HTTP_RESUME: Final = 308
_HTTP_AUTH: Final = (401, 403)
_HTTP_GONE: Final = (404, 410)
_HTTP_CONFLICT: Final = 412
_HTTP_RETRY: Final = (408, 429)
_HTTP_SERVER: Final = 500
_RANGE_RE: Final = re.compile(r"bytes=0-(\d+)")
_SECRET_RES: Final = (
    re.compile(r"(upload_id=)[^&\s\"']+"),
    re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE),
    re.compile(r"(X-Goog-Signature=)[0-9a-fA-F]+"),
    re.compile(r"(access_token\"?\s*[:=]\s*\"?)[^\s\"',]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
)


class ErrorKind(StrEnum):
    """What a failed bucket call means for the uploader."""

    AUTH = "auth"
    BUCKET_MISSING = "bucket_missing"
    NETWORK = "network"
    CONFLICT = "conflict"
    SESSION_GONE = "session_gone"
    REJECTED = "rejected"


class BucketError(Exception):
    """A bucket call failed; ``kind`` says how, the message is safe to log and show."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        """Keep the kind and the (already scrubbed) message."""
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object in the bucket."""

    name: str
    generation: int
    crc32c: str  # base64, big-endian, as GCS reports it
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str | None = None


def crc32c_text(checksum: int) -> str:
    """Return a CRC32C value as GCS writes it (base64 of its 4 big-endian bytes)."""
    return base64.b64encode(checksum.to_bytes(4, "big")).decode("ascii")


def crc32c_of(data: bytes) -> str:
    """Return the CRC32C of some bytes, as GCS writes it."""
    return crc32c_text(google_crc32c.value(data))


class Crc32c:
    """A running CRC32C (C extension)."""

    def __init__(self) -> None:
        """Start at zero bytes."""
        self._sum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
        self.length = 0

    def update(self, data: bytes) -> None:
        """Add bytes."""
        self._sum.update(data)  # type: ignore[no-untyped-call]
        self.length += len(data)

    def text(self) -> str:
        """Return the value so far, as GCS writes it."""
        digest: bytes = self._sum.digest()  # type: ignore[no-untyped-call]
        return base64.b64encode(digest).decode("ascii")


def split_uri(uri: str) -> tuple[str, str]:
    """Return (bucket, object name) of a ``gs://bucket/name`` uri."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs:// object uri: {uri!r}")
    bucket, name = uri[5:].split("/", 1)
    return bucket, name


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove tokens, signatures, session ids and the given secrets from a message."""
    for pattern in _SECRET_RES:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "<redacted>", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:500]


def _info(resource: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        name=str(resource["name"]),
        generation=int(resource.get("generation") or 0),
        crc32c=str(resource.get("crc32c") or ""),
        size=int(resource.get("size") or 0),
        metadata=dict(resource.get("metadata") or {}),
        storage_class=resource.get("storageClass"),
    )


def _blob_info(blob: storage.Blob) -> ObjectInfo:
    return _info(blob._properties)  # noqa: SLF001  (the object resource as GCS sent it)


class _MultipartBody:
    """A ``multipart/related`` upload body whose data part is sent without a copy.

    requests streams an iterable that has a length (``Content-Length``, not chunked);
    urllib3 ``sendall``s each piece, the data as a memoryview of the caller's bytes.
    Iterating again starts over, so a request resent (a token refreshed after a 401)
    sends the whole body again.
    """

    def __init__(self, boundary: str, resource: Mapping[str, Any], data: bytes) -> None:
        """Frame the JSON resource and the data between the boundaries."""
        mark = f"--{boundary}\r\n".encode("ascii")
        self._head = (
            mark
            + b"content-type: application/json; charset=UTF-8\r\n\r\n"
            + json.dumps(resource).encode("utf-8")
            + b"\r\n"
            + mark
            + f"content-type: {resource['contentType']}\r\n\r\n".encode()
        )
        self._data = data
        self._tail = f"\r\n--{boundary}--".encode("ascii")

    def __len__(self) -> int:
        """Return the body's length in bytes."""
        return len(self._head) + len(self._data) + len(self._tail)

    def __iter__(self) -> Iterator[bytes | memoryview]:
        """Yield the pieces: framing, the data (not copied), the closing boundary."""
        yield self._head
        yield memoryview(self._data)
        yield self._tail


class Bucket:
    """One bucket of Google Cloud Storage (blocking; safe to use from several threads)."""

    def __init__(
        self,
        name: str,
        key: Mapping[str, Any] | None,
        *,
        emulator_host: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Parse the key (raising ``BucketError(AUTH)`` when it is unusable); no request yet.

        ``key`` is a service account's JSON key as a mapping; None is allowed only with
        an emulator (anonymous requests, as google-cloud-storage makes them there).
        """
        self.name = name
        self.emulator_host = emulator_host or os.environ.get(EMULATOR_ENV)
        self.timeout = timeout
        self._secrets: tuple[str, ...] = ()
        self._signer: service_account.Credentials | None = None
        self._credentials: Credentials
        self._project: str | None = None
        if key is None:
            if not self.emulator_host:
                raise BucketError(ErrorKind.AUTH, "no service account key")
            self._credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            self._project = "cctv-nvr"
        else:
            self._secrets = tuple(
                str(key.get(part) or "") for part in ("private_key", "private_key_id")
            )
            try:
                creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    dict(key), scopes=list(SCOPES)
                )
            except (ValueError, KeyError, TypeError, auth_exceptions.GoogleAuthError) as err:
                raise BucketError(
                    ErrorKind.AUTH, f"the service account key is not usable: {self.scrub(err)}"
                ) from None
            self._credentials = creds
            self._signer = creds
            self._project = str(key.get("project_id") or "") or None
        self._local = threading.local()

    def scrub(self, err: object) -> str:
        """Return an error's text without secrets."""
        return scrub(
            f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else str(err),
            self._secrets,
        )

    def uri(self, object_name: str) -> str:
        """Return the gs:// uri of an object of this bucket."""
        return f"gs://{self.name}/{object_name}"

    # -- per-thread clients -------------------------------------------------------------

    def _client(self) -> storage.Client:
        client: storage.Client | None = getattr(self._local, "client", None)
        if client is None:
            options = {"api_endpoint": self.emulator_host} if self.emulator_host else None
            client = storage.Client(
                project=self._project, credentials=self._credentials, client_options=options
            )
            # The client fetches bucket metadata for tracing in daemon threads of its own
            # (retried for minutes while the bucket cannot be reached), outside our pool;
            # we do not trace, so it is turned off (the library checks for a falsy cache).
            client._bucket_metadata_cache = None  # noqa: SLF001
            self._local.client = client
        return client

    def _bucket(self) -> storage.Bucket:
        return self._client().bucket(self.name)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    @contextmanager
    def _errors(self, *, missing: ErrorKind | None = ErrorKind.BUCKET_MISSING) -> Iterator[None]:
        """Turn the library's and the transport's exceptions into ``BucketError``."""
        try:
            yield
        except BucketError:
            raise
        except api_exceptions.PreconditionFailed as err:
            raise BucketError(ErrorKind.CONFLICT, self.scrub(err)) from None
        except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as err:
            raise BucketError(ErrorKind.AUTH, self.scrub(err)) from None
        except api_exceptions.NotFound as err:
            raise BucketError(missing or ErrorKind.REJECTED, self.scrub(err)) from None
        except (api_exceptions.ServerError, api_exceptions.TooManyRequests) as err:
            raise BucketError(ErrorKind.NETWORK, self.scrub(err)) from None
        except api_exceptions.GoogleAPICallError as err:
            raise BucketError(ErrorKind.REJECTED, self.scrub(err)) from None
        except auth_exceptions.RefreshError as err:
            # The token endpoint answered and refused the key (revoked, deleted, bad signature)
            # unless it was only unreachable or overloaded (retryable).
            kind = ErrorKind.NETWORK if getattr(err, "retryable", False) else ErrorKind.AUTH
            raise BucketError(kind, self.scrub(err)) from None
        except auth_exceptions.TransportError as err:
            raise BucketError(ErrorKind.NETWORK, self.scrub(err)) from None
        except auth_exceptions.GoogleAuthError as err:
            raise BucketError(ErrorKind.AUTH, self.scrub(err)) from None
        except (requests.RequestException, OSError) as err:
            raise BucketError(ErrorKind.NETWORK, self.scrub(err)) from None

    def _raise_for(
        self, response: requests.Response, missing: ErrorKind = ErrorKind.SESSION_GONE
    ) -> None:
        status = response.status_code
        text = self.scrub(f"HTTP {status}: {response.text[:300]}")
        if status in _HTTP_AUTH:
            raise BucketError(ErrorKind.AUTH, text)
        if status in _HTTP_GONE:
            raise BucketError(missing, text)
        if status == _HTTP_CONFLICT:
            raise BucketError(ErrorKind.CONFLICT, text)
        if status in _HTTP_RETRY or status >= _HTTP_SERVER:
            raise BucketError(ErrorKind.NETWORK, text)
        raise BucketError(ErrorKind.REJECTED, text)

    # -- the bucket -----------------------------------------------------------------------

    def check(self) -> None:
        """Fetch the bucket's metadata: raises ``BucketError`` when it cannot be used."""
        with self._errors():
            self._client().get_bucket(self.name, timeout=self.timeout, retry=None)

    def info(self, object_name: str) -> ObjectInfo | None:
        """Return an object's metadata (None: there is no such object)."""
        with self._errors():
            blob = self._bucket().get_blob(object_name, timeout=self.timeout, retry=None)
        return None if blob is None else _blob_info(blob)

    def _new_blob(
        self, object_name: str, metadata: Mapping[str, str], storage_class: str | None
    ) -> storage.Blob:
        blob = self._bucket().blob(object_name)
        blob.metadata = dict(metadata)
        if storage_class:
            blob.storage_class = storage_class
        return blob

    def upload_small(
        self,
        object_name: str,
        data: bytes,
        crc32c: str,
        metadata: Mapping[str, str],
        storage_class: str | None = None,
        content_type: str = "video/mp4",
    ) -> ObjectInfo:
        """Create an object in one request, only if no object has its name (412: conflict).

        The CRC32C goes with the object's metadata, so GCS refuses bytes that arrive
        damaged; the caller still compares the one GCS reports.

        The JSON API's multipart upload, sent by hand: google-cloud-storage's
        ``upload_from_string`` joins the metadata and the bytes into one body with four
        copies of the data (``construct_multipart_request``: 8-16 ms of holding the GIL
        for a 2.5 MB segment, which the event loop waits out). ``_MultipartBody`` sends
        the bytes as they are (one ``sendall`` of a memoryview, the GIL released).
        """
        resource: dict[str, Any] = {
            "name": object_name,
            "contentType": content_type,
            "crc32c": crc32c,
            "metadata": dict(metadata),
        }
        if storage_class:
            resource["storageClass"] = storage_class
        boundary = f"=============={secrets.token_hex(16)}=="
        with self._errors():
            client = self._client()
            base = client._connection.API_BASE_URL  # noqa: SLF001  (the emulator or GCS)
            url = f"{base}/upload/storage/v1/b/{quote(self.name, safe='')}/o"
            response = client._http.post(  # noqa: SLF001  (the client's authorized session)
                url,
                params={"uploadType": "multipart", "ifGenerationMatch": "0"},
                data=_MultipartBody(boundary, resource, data),
                headers={"Content-Type": f'multipart/related; boundary="{boundary}"'},
                timeout=self.timeout,
            )
        if response.status_code not in _HTTP_OK:
            self._raise_for(response, missing=ErrorKind.BUCKET_MISSING)
        try:
            return _info(json.loads(response.content))
        except (ValueError, KeyError) as err:
            raise BucketError(ErrorKind.REJECTED, self.scrub(err)) from None

    def start_resumable(
        self,
        object_name: str,
        size: int,
        metadata: Mapping[str, str],
        storage_class: str | None = None,
        content_type: str = "video/mp4",
    ) -> str:
        """Open a resumable upload session (create-only) and return its URL (a capability)."""
        blob = self._new_blob(object_name, metadata, storage_class)
        with self._errors():
            return str(
                blob.create_resumable_upload_session(
                    content_type=content_type,
                    size=size,
                    timeout=self.timeout,
                    checksum=None,
                    if_generation_match=0,
                    retry=None,
                )
            )

    def send_chunk(
        self, session_url: str, data: bytes, offset: int, total: int, crc32c: str | None = None
    ) -> ObjectInfo | int:
        """Send bytes [offset, offset + len(data)) of a resumable upload.

        Returns the object once the last byte is in, else the next offset the session
        wants (GCS may have committed less than was sent). ``crc32c`` (of the whole
        object) goes with the last chunk so GCS checks it.
        """
        end = offset + len(data) - 1
        headers = {"Content-Range": f"bytes {offset}-{end}/{total}"}
        if crc32c is not None and end == total - 1:
            headers["X-Goog-Hash"] = f"crc32c={crc32c}"
        with self._errors(missing=ErrorKind.SESSION_GONE):
            response = self._session().put(
                session_url, data=data, headers=headers, timeout=self.timeout
            )
        return self._session_answer(response)

    def query_session(self, session_url: str, total: int) -> ObjectInfo | int:
        """Ask a resumable session how far it got: the object when done, else the next offset."""
        with self._errors(missing=ErrorKind.SESSION_GONE):
            response = self._session().put(
                session_url,
                headers={"Content-Range": f"bytes */{total}"},
                timeout=self.timeout,
            )
        return self._session_answer(response)

    def _session_answer(self, response: requests.Response) -> ObjectInfo | int:
        if response.status_code in _HTTP_OK:
            try:
                return _info(json.loads(response.content))
            except (ValueError, KeyError) as err:
                raise BucketError(ErrorKind.REJECTED, self.scrub(err)) from None
        if response.status_code == _HTTP_RESUME:
            match = _RANGE_RE.fullmatch(response.headers.get("Range", ""))
            return int(match.group(1)) + 1 if match else 0
        self._raise_for(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def cancel_session(self, session_url: str) -> None:
        """Abandon a resumable session (best effort: an expired one is already gone)."""
        try:
            self._session().delete(session_url, timeout=self.timeout)
        except requests.RequestException, OSError:
            return

    def delete(self, object_name: str, generation: int | None) -> bool:
        """Delete one generation of an object; False when it was not there any more."""
        with self._errors(missing=None):
            try:
                self._bucket().blob(object_name).delete(
                    if_generation_match=generation, timeout=self.timeout, retry=None
                )
            except api_exceptions.NotFound:
                return False
        return True

    def objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """List the objects under a prefix (pages fetched as iterated)."""
        with self._errors():
            for blob in self._client().list_blobs(
                self.name, prefix=prefix or None, timeout=self.timeout, retry=None
            ):
                yield _blob_info(blob)

    def read(self, object_name: str, start: int = 0, end: int | None = None) -> bytes:
        """Return bytes [start, end] (inclusive, as HTTP ranges) of an object."""
        with self._errors(missing=ErrorKind.REJECTED):
            return bytes(
                self._bucket()
                .blob(object_name)
                .download_as_bytes(
                    start=start, end=end, checksum=None, timeout=self.timeout, retry=None
                )
            )

    def signed_url(
        self, object_name: str, seconds: int, generation: int | None = None
    ) -> str | None:
        """Return a V4 signed GET URL valid for ``seconds`` (None: no key to sign with)."""
        if self._signer is None:
            return None
        blob = self._bucket().blob(object_name)
        with self._errors():
            return str(
                blob.generate_signed_url(
                    version="v4",
                    expiration=timedelta(seconds=seconds),
                    method="GET",
                    credentials=self._signer,
                    generation=generation,
                    api_access_endpoint=self.emulator_host or None,
                )
            )

    def set_lifecycle(self, rules: list[dict[str, Any]]) -> None:
        """Replace the bucket's lifecycle rules."""
        with self._errors():
            bucket = self._client().get_bucket(self.name, timeout=self.timeout, retry=None)
            bucket.lifecycle_rules = rules
            bucket.patch(timeout=self.timeout, retry=None)

    def close(self) -> None:
        """Close this thread's client and session (others close when their thread ends)."""
        client: storage.Client | None = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None
