"""Reading a chart's data table back out of a rendered page, as text cells."""

from html.parser import HTMLParser


class _Table(HTMLParser):
    def __init__(self, table_id):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.inside:
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.inside and self.cell is not None:
            self.cell.append(data)


def data_table(html, chart_id):
    """(header, rows) of the chart's data table, or None when the page has no such table."""
    parser = _Table(f"{chart_id}-data")
    parser.feed(html)
    if not parser.rows:
        return None
    return parser.rows[0], parser.rows[1:]
