/** The panel's strings, by language; English is the fallback. Add a language as another table. */

const en = {
  title: "CCTV",
  live: "Live",
  exports: "Exports",
  storage: "Storage",
  settings: "Settings",
  online: "Online",
  offline: "Offline",
  recording: "Recording",
  not_recording: "Not recording",
  enlarge: "Enlarge {camera}",
  close: "Close",
  recordings: "Recordings",
  back: "Back to the live grid",
  no_cameras: "No camera you may see is set up.",
  date: "Date",
  previous_day: "Previous day",
  next_day: "Next day",
  zoom_in: "Zoom in",
  zoom_out: "Zoom out",
  earlier: "Earlier",
  later: "Later",
  timeline: "Timeline of {camera} on {date}; arrow keys move, Enter plays",
  gap: "No footage",
  play: "Play",
  pause: "Pause",
  speed: "Speed",
  previous_event: "Previous event",
  next_event: "Next event",
  now_playing: "Now playing",
  nothing_playing: "Click the timeline to play",
  no_footage_day: "No footage on this day.",
  mark_in: "Selection start",
  mark_out: "Selection end",
  clear_selection: "Clear selection",
  selection: "Selection {start} – {end} ({duration})",
  select_hint: "Drag on the timeline (or use the selection buttons) to select a range.",
  export: "Export selection",
  exporting: "Exporting… {elapsed}",
  export_queued: "Queued (place {position}): waiting for other exports to finish…",
  export_waiting: "Export queued",
  export_running: "Export running",
  export_done: "Export ready",
  export_failed: "Export failed: {error}",
  download: "Download",
  protect: "Protect",
  unprotect: "Unprotect",
  delete: "Delete footage",
  delete_export: "Delete export",
  confirm_delete: "Delete the footage of {camera} from {start} to {end}? This cannot be undone.",
  done_protect: "{count} segments protected",
  done_unprotect: "{count} segments unprotected",
  done_delete: "{count} segments deleted",
  no_exports: "No exports yet.",
  disk: "Recordings disk",
  disk_usage: "{used} used of {total}, {free} free",
  footage: "Footage",
  camera: "Camera",
  size: "Size",
  oldest: "Oldest",
  days_fit: "Days that fit",
  bitrate: "Bitrate",
  error: "Error: {message}",
  // What the user's rights on a camera allow
  live_not_now: "Not allowed to watch live now",
  live_outside_windows: "Live video is allowed only inside your time windows.",
  live_no_right: "You have no right to watch this camera live.",
  live_panel_only_unavailable: "Live video of this camera is kept to the CCTV panel and cannot be shown here yet.",
  no_recordings_right: "You have no right to see this camera's recordings.",
  access_changed: "Your access to {camera} changed: its recordings are closed.",
  hidden: "Not yours to see",
  delete_event: "Delete event “{label}”",
  confirm_delete_event: "Delete the event “{label}” of {camera} at {start}? Its footage stays; its notification links stop working.",
  event_deleted: "Event deleted",
};

export type StringKey = keyof typeof en;

const tables: Record<string, Partial<Record<StringKey, string>>> = { en };

/** A string in the user's language (falling back to English), with {placeholders} filled in. */
export function localize(
  language: string | undefined,
  key: StringKey,
  values: Record<string, string | number> = {},
): string {
  const table = tables[language ?? "en"] ?? tables[(language ?? "en").split("-")[0]] ?? {};
  const text = table[key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (match, name: string) =>
    name in values ? String(values[name]) : match,
  );
}
