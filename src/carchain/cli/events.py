"""``carchain events``: print the committed blocks' events, or follow them live.

``carchain events`` prints the events from ``--from-height`` (default 1) up to the
node's height and ends; ``--follow`` waits for new blocks (from the next block
unless ``--from-height`` is given) until interrupted, resuming after a dropped
connection with no gap and no duplicate. ``--type`` (repeatable), ``--vehicle``
and ``--member`` filter; ``--json`` prints one JSON object per line.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from carchain.cli.common import DEFAULT_NODE, JsonOpt, NodeOpt, client, console, make_text
from carchain.sdk.events import StreamEvent


def format_event(event: StreamEvent) -> Text:
    """Return one event as a line: its id, type and attributes (printable text only)."""
    attrs = " ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
    kind = make_text(event.type)
    kind.stylize("bold")
    return Text.assemble(Text(f"{event.id:<14} ", style="dim"), kind, " ", make_text(attrs))


def events(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Wait for new blocks.")] = False,
    types: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Event type (repeatable).")
    ] = None,
    vehicle: Annotated[str, typer.Option(help="Only events of this vehicle id.")] = "",
    member: Annotated[str, typer.Option(help="Only events naming or signed by this member.")] = "",
    from_height: Annotated[
        int | None, typer.Option("--from-height", min=1, help="First height to read.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    as_json: JsonOpt = False,
    node: NodeOpt = DEFAULT_NODE,
) -> None:
    """Print the events of committed blocks (``--follow``: live, until Ctrl-C)."""
    count = 0
    with client(node) as c:
        stream = c.events(types or (), vehicle, member, from_height, follow)
        try:
            for event in stream:
                if as_json:
                    typer.echo(json.dumps(event.to_json(), sort_keys=True))
                else:
                    console.print(format_event(event), soft_wrap=True, highlight=False)
                count += 1
                if limit is not None and count >= limit:
                    break
        except KeyboardInterrupt:
            pass  # Ctrl-C ends a followed stream: not an error
        finally:
            stream.close()
