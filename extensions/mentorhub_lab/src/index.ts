/**
 * mentorhub-lab: the mentorhub course catalog as a JupyterLab main-area tab.
 *
 * The catalog itself is a page served by the mentorhub jupyter-server extension at
 * `<base_url>mentorhub/catalog`; this extension only frames it and adds:
 *
 * - the command `mentorhub:open-catalog` ("Course catalog"), in the launcher and the
 *   command palette; it opens the catalog tab, or re-activates it if it is open;
 * - a `message` listener for the catalog's one request to JupyterLab.
 *
 * Message protocol (catalog iframe -> JupyterLab), via `window.parent.postMessage`:
 *
 *     {"mentorhub": "open", "path": "courses/<slug>/<path inside the course>"}
 *
 *   sent with targetOrigin `window.location.origin`. `path` is relative to the server's
 *   root: `courses` itself or a path under `courses/`, with no `.`/`..` or empty segments.
 *   A directory is shown in the file browser (`filebrowser:go-to-path`); a notebook or
 *   other file is opened (`docmanager:open`). Everything else is ignored without reply:
 *   messages whose source is not the catalog iframe's window, whose origin is not
 *   JupyterLab's own, or whose data does not have exactly this shape.
 *
 * To tell a directory from a file the extension asks JupyterLab's own Contents service
 * for the path's model without content (the standard `GET api/contents/<path>`, as
 * JupyterLab's "Open from Path" does); it makes no other server requests.
 */

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IFrame, MainAreaWidget } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { LabIcon } from '@jupyterlab/ui-components';

const COMMAND = 'mentorhub:open-catalog';
const CATEGORY = 'mentorhub';
const WIDGET_ID = 'mentorhub-catalog';

const catalogIcon = new LabIcon({
  name: 'mentorhub:catalog',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M4 4.5C4 3.7 4.7 3 5.5 3H11v17H5.5C4.7 20 4 19.3 4 18.5z' +
    'M13 3h5.5c.8 0 1.5.7 1.5 1.5v14c0 .8-.7 1.5-1.5 1.5H13z"/>' +
    '</g></svg>'
});

/** A message from the catalog asking JupyterLab to open a path, or null. */
function parseOpenRequest(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return null;
  }
  const { mentorhub, path } = data as { mentorhub?: unknown; path?: unknown };
  if (mentorhub !== 'open' || typeof path !== 'string' || path.length > 1024) {
    return null;
  }
  const parts = path.split('/');
  if (parts[0] !== 'courses') {
    return null;
  }
  if (parts.some(p => p === '' || p === '.' || p === '..' || p.includes('\\'))) {
    return null;
  }
  return path;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mentorhub-lab:plugin',
  description: 'The mentorhub course catalog in a main-area tab.',
  autoStart: true,
  optional: [ILauncher, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null
  ) => {
    let widget: MainAreaWidget<IFrame> | null = null;

    const frameWindow = (): Window | null =>
      widget && !widget.isDisposed
        ? (widget.content.node.querySelector('iframe')?.contentWindow ?? null)
        : null;

    const openPath = async (path: string): Promise<void> => {
      const model = await app.serviceManager.contents.get(path, {
        content: false
      });
      if (model.type === 'directory') {
        await app.commands.execute('filebrowser:go-to-path', { path });
      } else {
        await app.commands.execute('docmanager:open', { path });
      }
    };

    window.addEventListener('message', (event: MessageEvent) => {
      const source = frameWindow();
      if (source === null || event.source !== source) {
        return;
      }
      if (event.origin !== window.location.origin) {
        return;
      }
      const path = parseOpenRequest(event.data);
      if (path === null) {
        return;
      }
      openPath(path).catch(reason =>
        console.warn(`mentorhub: cannot open ${path}`, reason)
      );
    });

    app.commands.addCommand(COMMAND, {
      label: 'Course catalog',
      caption: 'Browse the mentorhub course catalog',
      icon: catalogIcon,
      execute: () => {
        if (widget && !widget.isDisposed) {
          app.shell.activateById(widget.id);
          return widget;
        }
        const content = new IFrame({
          sandbox: [
            'allow-scripts',
            'allow-same-origin',
            'allow-forms',
            'allow-popups'
          ],
          referrerPolicy: 'same-origin'
        });
        content.url = PageConfig.getBaseUrl() + 'mentorhub/catalog';
        content.addClass('mh-Catalog-frame');
        widget = new MainAreaWidget({ content });
        widget.id = WIDGET_ID;
        widget.title.label = 'Course catalog';
        widget.title.icon = catalogIcon;
        widget.title.closable = true;
        widget.addClass('mh-Catalog');
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    launcher?.add({ command: COMMAND, category: CATEGORY, rank: 0 });
    palette?.addItem({ command: COMMAND, category: CATEGORY });
  }
};

export default plugin;
