"""The two exports of a case: the JSON bundle (checked offline by verify_bundle) and the printable
report. Whoever may read a case may export it; both exports are audited (case.exported)."""

from django.http import HttpResponse
from django.shortcuts import render

from investigations.cases import selectors
from investigations.cases.export import case_export_bundle, case_report
from investigations.cases.views import case_or_404
from investigations.core.routes import Routes

routes = Routes()


@routes("<int:case_id>/export.json", name="case-export-json", capability="read_cases", methods=["GET"])
def case_export_json(request, case_id):
    export = case_export_bundle(user=request.user, case=case_or_404(case_id))
    response = HttpResponse(export.content, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@routes("<int:case_id>/report/", name="case-report", capability="read_cases", methods=["GET"])
def case_report_view(request, case_id):
    report = case_report(user=request.user, case=case_or_404(case_id))
    # Read after the export is recorded, like everything else the report shows.
    evidence = selectors.evidence_with_state(case=report.case)
    response = render(request, "cases/report.html", {"report": report, "case": report.case, "evidence": evidence})
    response["Cache-Control"] = "no-store"
    return response
