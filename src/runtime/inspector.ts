import type { HubCore } from '../core/hub';
import { INSPECTOR_TAG, SessionInspection, joinFrames, type InspectionFrame } from '../core/inspection';
import type { LogEntry } from '../core/log';
import type { RuntimeAdapter, RuntimeEvent, RuntimePlugin } from './adapter';

/**
 * Inspection as a capability of the runtime adapter: given to it only when
 * inspection is configured, absent otherwise (then the core never gets a
 * transition hook, and no inspection code runs at all). Inspector sockets
 * are tagged INSPECTOR_TAG, so they are never restored as sessions, and the
 * runtime still lists them after a wake.
 */
export class InspectorPlugin<S> implements RuntimePlugin<S> {
  /** Open inspector sockets; rebuilt from the runtime's list after a wake. */
  private inspectors = new Set<S>();
  private inspection: SessionInspection | null = null;
  private runtime: RuntimeAdapter<S> | null = null;

  constructor(private readonly log: (entry: LogEntry) => void) {}

  onEvent(event: RuntimeEvent<S>, runtime: RuntimeAdapter<S>): void {
    this.runtime = runtime;
    switch (event.type) {
      case 'woke':
        // After a wake the in-memory list is gone: the runtime still knows the inspector sockets by their tag.
        this.inspectors = new Set(runtime.io.connections.list(INSPECTOR_TAG));
        if (this.inspectors.size > 0) this.inspectionOf().install(event.core);
        return;
      case 'opened':
        if (this.inspectors.size > 0) this.inspection?.opened(event.core.session(event.connId), event.now);
        return;
      case 'left':
        if (event.tags[0] === INSPECTOR_TAG) this.left(event.socket, runtime);
        return;
    }
  }

  /**
   * An inspector joins: it gets an actor and a snapshot frame for every
   * session the hub knows (restored ones included, since the core is rebuilt
   * from the attachments), then every step live.
   */
  join(socket: S, runtime: RuntimeAdapter<S>): void {
    this.runtime = runtime;
    const core = runtime.hub();
    runtime.io.connections.accept(socket, [INSPECTOR_TAG]);
    this.inspectors.add(socket);
    try {
      for (const frame of joinFrames(core.allSessions(), runtime.io.clock.now())) runtime.io.connections.send(socket, JSON.stringify(frame));
    } catch (err) {
      this.fault(err);
    }
    this.inspectionOf().install(core);
  }

  private left(socket: S, runtime: RuntimeAdapter<S>): void {
    this.inspectors.delete(socket);
    // The last inspector gone: the core goes back to doing no inspection work at all.
    const core: HubCore | null = runtime.awake;
    if (this.inspectors.size === 0 && core && this.inspection) this.inspection.uninstall(core);
  }

  private inspectionOf(): SessionInspection {
    this.inspection ??= new SessionInspection(
      (frame) => this.broadcast(frame),
      (err) => this.fault(err),
    );
    return this.inspection;
  }

  private broadcast(frame: InspectionFrame): void {
    if (this.inspectors.size === 0 || this.runtime === null) return;
    const text = JSON.stringify(frame);
    const { connections } = this.runtime.io;
    for (const socket of this.inspectors) connections.send(socket, text);
  }

  private fault(err: unknown): void {
    this.log({ level: 'warn', event: 'inspect.failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
}
