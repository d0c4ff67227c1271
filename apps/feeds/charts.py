"""Lines in and out of a feed per minute, drawn as SVG on the server (like the dashboard's
chart: nothing to load, readable without JavaScript, with the numbers in a table)."""

WIDTH, HEIGHT = 700, 160


def lines_chart(points) -> dict:
    """Two polylines (in, out) over `points` [(minute, in, out)], and their scale."""
    top = max([max(i, o) for _, i, o in points] + [1])
    step = WIDTH / max(len(points) - 1, 1)

    def line(index: int) -> str:
        return " ".join(
            f"{n * step:.1f},{HEIGHT - point[index] * HEIGHT / top:.1f}"
            for n, point in enumerate(points)
        )

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "top": top,
        "lines_in": line(1),
        "lines_out": line(2),
        "total_in": sum(i for _, i, _ in points),
        "total_out": sum(o for _, _, o in points),
        "first": points[0][0] if points else None,
        "rows": [point for point in points if point[1] or point[2]],
    }
