"""The browser's camera on a page: a live preview that records bursts into a class, or streams frames to Play.

A Streamlit component (`st.components.v2`: it runs in the page itself, not in a frame, so the page's own
permission for the camera applies). Browsers open the camera only on ``https://`` or ``localhost``; elsewhere,
or when the student says no, the component says why in its status line and the page offers uploads instead.
A frame leaves the browser as a JPEG at most `SIDE` pixels on its long side; the server decodes and re-encodes
it like any upload (`workbench.data.gathered.reencode`), so nothing the page sends is kept as sent.
"""

from __future__ import annotations

import base64
import binascii

import streamlit as st

from workbench.core.errors import DataError

SIDE = 512
PLAY_KEY = "play-camera"
MAX_FRAME_BYTES = 2_000_000  # a 512-px JPEG is ~50 kB: anything near this was not made by the component
PREFIX = "data:image/jpeg;base64,"
RESEND_MS = 3000  # Play: a frame unanswered this long is sent again

HTML = """<div class="camera">
<video playsinline muted aria-label="camera preview"></video>
<div class="row"><button type="button" class="record"></button><span class="status" role="status"></span></div>
</div>"""

CSS = """
.camera video { width: 100%; max-width: 360px; border-radius: 0.5rem; background: #222; display: block; }
.camera .row { display: flex; gap: 0.75rem; align-items: center; margin-top: 0.4rem; flex-wrap: wrap; }
.camera button { font: inherit; padding: 0.35rem 0.9rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid var(--st-primary-color); background: var(--st-primary-color); color: white; }
.camera button:disabled { opacity: 0.6; cursor: wait; }
.camera button[hidden] { display: none; }
.camera .status { font-size: 0.9rem; }
"""

# Called by Streamlit when the component mounts (and with new `data` later); the camera opens once per mount and
# closes in the cleanup. Burst: `frames` frames at `fps`, sent together. Play: one frame, then the next only once
# the server has answered the last (its count comes back in `data.answered`), so a slow laptop never builds a queue.
# A frame still unanswered after `resend_ms` (or five of the last answers' time, if longer) is sent again, fresh:
# a rerun the page replaced with another can lose the frame it carried, and the camera stood still on it (CI).
JS = """
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const root = parentElement.querySelector('.camera');
  const video = root.querySelector('video');
  const button = root.querySelector('.record');
  const status = root.querySelector('.status');
  const state = root.__workbench || (root.__workbench = { sent: 0, sentAt: 0, trip: 0, stream: null, timer: null,
    open: false });
  state.data = data;
  button.textContent = data.label;
  button.hidden = data.mode !== 'burst';
  const grab = () => {
    const scale = Math.min(1, data.side / Math.max(video.videoWidth, video.videoHeight));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL('image/jpeg', 0.9);
  };
  const answered = data.answered || 0;
  if (state.sent && answered >= state.sent && state.timed !== state.sent) {  // an answer's round trip, once each
    state.trip = Date.now() - state.sentAt;
    state.timed = state.sent;
  }
  const next = () => {
    if (state.data.mode !== 'play' || !video.videoWidth) return;
    const waited = Date.now() - state.sentAt;
    if (state.sent > (state.data.answered || 0) && waited < Math.max(state.data.resend_ms, 5 * state.trip)) return;
    state.sent = (state.data.answered || 0) + 1;
    state.sentAt = Date.now();
    setTriggerValue('frame', { number: state.sent, image: grab() });
  };
  if (!state.open) {
    state.open = true;
    if (!window.isSecureContext || !navigator.mediaDevices) {
      status.textContent = data.insecure;
      button.disabled = true;
    } else {
      status.textContent = 'opening the camera…';
      navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false })
        .then((stream) => {
          state.stream = stream;
          video.srcObject = stream;
          return video.play();
        })
        .then(() => {
          status.textContent = state.data.ready;
          state.timer = setInterval(next, state.data.every_ms || 250);
        })
        .catch((error) => {
          status.textContent = 'No camera: ' + (error && error.name === 'NotAllowedError'
            ? 'the browser was told not to allow it (allow it in the address bar)' : (error && error.name) || 'none found')
            + '. Upload images instead.';
          button.disabled = true;
        });
    }
  }
  const record = () => {
    if (!video.videoWidth) {  // clicked while the camera still opens: record as soon as it shows a picture
      status.textContent = 'waiting for the camera…';
      video.addEventListener('playing', record, { once: true });
      return;
    }
    button.disabled = true;
    const frames = [];
    const take = setInterval(() => {
      frames.push(grab());
      status.textContent = 'recording ' + frames.length + ' of ' + state.data.frames + '…';
      if (frames.length >= state.data.frames) {
        clearInterval(take);
        button.disabled = false;
        status.textContent = 'sent ' + frames.length + ' frames';
        setTriggerValue('frames', frames);
      }
    }, 1000 / state.data.fps);
  };
  button.onclick = record;
  return () => {
    if (state.timer) clearInterval(state.timer);
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    root.__workbench = undefined;
  };
}
"""

_component = st.components.v2.component("workbench_camera", html=HTML, css=CSS, js=JS)

INSECURE = ("The camera is off: browsers allow it only on https:// or localhost addresses. Ask your teacher to start "
            "the dashboard with --https, or upload photos instead.")


def burst_camera(key: str, frames: int = 8, fps: float = 4.0):
    """A preview with a button that records ``frames`` frames at ``fps``; returns the frames (JPEG bytes) of a
    burst just recorded, else None."""
    data = {"mode": "burst", "label": f"Record {frames} frames", "frames": frames, "fps": fps, "side": SIDE,
            "insecure": INSECURE, "ready": "camera on: point it at the object, then record"}
    result = _component(key=key, data=data, on_frames_change=lambda: None)
    sent = getattr(result, "frames", None)
    return None if not sent else [frame_bytes(frame) for frame in sent[:frames]]


def play_camera(key: str, answered: int) -> None:
    """A preview that sends one frame at a time: the next once ``answered`` (the last frame number the page
    answered) catches up. The page reads a sent frame with `sent_frame` before drawing this, so that the answer and
    the new ``answered`` go out in the same run."""
    data = {"mode": "play", "label": "", "answered": answered, "side": SIDE, "every_ms": 100,
            "resend_ms": RESEND_MS, "insecure": INSECURE,
            "ready": "camera on: both networks are looking"}
    _component(key=key, data=data, on_frame_change=lambda: None)


def sent_frame(key: str) -> tuple[int, bytes] | None:
    """The frame the camera ``key`` sent with this run, as (its number, JPEG bytes); None if none or malformed."""
    state = st.session_state.get(key)
    frame = state.get("frame") if hasattr(state, "get") else None
    if not isinstance(frame, dict) or not isinstance(frame.get("number"), int):
        return None
    try:
        return frame["number"], frame_bytes(frame.get("image"))
    except DataError:
        return None


def frame_bytes(frame: object) -> bytes:
    """A frame as the component sends it (a JPEG data URL) -> its bytes, or `DataError`."""
    if not isinstance(frame, str) or not frame.startswith(PREFIX) or len(frame) > MAX_FRAME_BYTES * 4 // 3 + 64:
        raise DataError("a camera frame did not arrive as a JPEG; record again")
    try:
        return base64.b64decode(frame[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise DataError("a camera frame did not arrive as a JPEG; record again") from None
