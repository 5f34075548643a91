#!/usr/bin/env bash
# pipeline.sh — the whole inficond pipeline over the REST API, as a script to read,
# run and copy from: upload a dataset tar, register a teacher and a concept model
# (tars of their folders), run the teacher over the dataset, make a concept corpus
# from a word list, extract concepts, make a project, distil a student, tune it once
# and export it as JSON and as TorchScript. Jobs are followed by long-polling.
#
# Each step logs one line on stderr; at the end stdout gets one JSON object with
# what was made. Any failure stops the script with the API's error message and
# exit status 1 (2 for a usage error). docs/openapi.yaml describes every answer.
#
# Usage: docs/pipeline.sh BASE_URL TOKEN DATASET_TAR TEACHER_TAR CONCEPT_TAR WORDS_TXT [OUT_DIR]
#   BASE_URL     the service, e.g. http://localhost:8080
#   TOKEN        an admin's API token (registering models needs admin)
#   DATASET_TAR  JPEGs as <class>/*.jpg (split 80/10/10 by hash) or <split>/<class>/*.jpg;
#                the student is fitted on split "train"
#   TEACHER_TAR  a teacher model folder (manifest.json + TorchScript), as many classes
#                as the dataset
#   CONCEPT_TAR  a concept model folder (manifest.json, TorchScript, tokenizer file)
#   WORDS_TXT    the concept words, one a line
#   OUT_DIR      where the two exports go (default: the current folder)
# Environment: NAME, the prefix of what it creates (default pipeline-<seconds>;
#   A-Z a-z 0-9 _ . -), WAIT_S, the most seconds to wait for one job (default 3600).
# Needs curl and jq.
set -euo pipefail
shopt -s inherit_errexit # a failed call inside $(...) stops the script too

die() { echo "pipeline: $*" >&2; exit 1; }
log() { echo "pipeline: $*" >&2; }

if (($# < 6 || $# > 7)); then
  sed -n '12,24p' "$0" >&2
  exit 2
fi
BASE=${1%/} TOKEN=$2 DATASET_TAR=$3 TEACHER_TAR=$4 CONCEPT_TAR=$5 WORDS=$6 OUT=${7:-.}
NAME=${NAME:-pipeline-$(date +%s)}
WAIT_S=${WAIT_S:-3600}
[[ $NAME =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || die "NAME must be 1 to 80 characters of A-Z a-z 0-9 _ . -"
for f in "$DATASET_TAR" "$TEACHER_TAR" "$CONCEPT_TAR" "$WORDS"; do [[ -r $f ]] || die "cannot read $f"; done
command -v jq >/dev/null || die "needs jq"
mkdir -p "$OUT"

# api METHOD PATH [curl options...]: the answer's body on stdout; a non-2xx answer
# stops the script with the API's error message.
api() {
  local method=$1 path=$2 out status body
  shift 2
  out=$(curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "$@" "$BASE$path") ||
    die "$method $path: the request failed"
  status=${out##*$'\n'} body=${out%$'\n'*}
  if [[ $status != 2?? ]]; then
    die "$method $path: HTTP $status: $(jq -r '.error.message // empty' <<<"$body" 2>/dev/null || true)"
  fi
  printf '%s' "$body"
}

# post_json PATH JSON: POST a JSON body.
post_json() { api POST "$1" -H 'Content-Type: application/json' --data-binary "$2"; }

# upload PATH FILE CONTENT_TYPE: POST a file, streamed from disk.
upload() { api POST "$1" -H "Content-Type: $3" -T "$2"; }

# follow JOB_JSON: long-polls the job until it ends; its final JSON on stdout when it
# succeeded, else stops the script with the job's error.
follow() {
  local job=$1 id state seq deadline=$((SECONDS + WAIT_S))
  id=$(jq -r .id <<<"$job")
  for (( ; ; )); do
    state=$(jq -r .state <<<"$job")
    case $state in
      succeeded) printf '%s' "$job"; return 0 ;;
      failed | cancelled) die "job $id ($(jq -r .kind <<<"$job")) $state: $(jq -r '.error // .message' <<<"$job")" ;;
    esac
    ((SECONDS < deadline)) || die "job $id is still $state after ${WAIT_S} s"
    seq=$(jq -r .seq <<<"$job")
    job=$(api GET "/api/v1/jobs/$id?wait=30&after=$seq")
  done
}

# 1. The dataset: create it, upload the tar (a dataset.import job).
ds=$(post_json /api/v1/datasets "$(jq -n --arg n "$NAME-data" '{name: $n}')")
ds_id=$(jq -r .id <<<"$ds")
started=$(upload "/api/v1/datasets/$ds_id/upload" "$DATASET_TAR" application/x-tar)
job=$(follow "$started")
ds=$(api GET "/api/v1/datasets/$ds_id")
log "dataset $ds_id: $(jq -r '.image_count' <<<"$ds") images, classes $(jq -c .classes <<<"$ds"), splits $(jq -c .splits <<<"$ds") (skipped $(jq -r .result.skipped_total <<<"$job"))"

# 2. The models, each a tar of its folder, checked (loaded and probed) as registered.
teacher=$(upload "/api/v1/models/upload?name=$NAME-teacher" "$TEACHER_TAR" application/x-tar)
teacher_id=$(jq -r .id <<<"$teacher")
concept_model=$(upload "/api/v1/models/upload?name=$NAME-concepts" "$CONCEPT_TAR" application/x-tar)
concept_id=$(jq -r .id <<<"$concept_model")
log "models: teacher $teacher_id, concept model $concept_id"

# 3. Teacher outputs: the teacher's probabilities for every image (a job).
started=$(post_json "/api/v1/datasets/$ds_id/teacher-outputs" "{\"model_id\": $teacher_id}")
job=$(follow "$started")
outputs_id=$(jq -r .result.teacher_output_id <<<"$job")
outputs=$(api GET "/api/v1/teacher-outputs/$outputs_id")
log "teacher output $outputs_id: accuracy $(jq -c '.accuracy | map_values(.accuracy)' <<<"$outputs")"

# 4. The concept corpus, from the word list.
corpus=$(api POST "/api/v1/corpora/import?name=$NAME-corpus" -H 'Content-Type: text/plain' --data-binary "@$WORDS")
corpus_id=$(jq -r .id <<<"$corpus")
log "corpus $corpus_id: $(jq -r .word_count <<<"$corpus") words"

# 5. Extraction: segments and concept presence for every image (a job).
started=$(post_json /api/v1/extractions \
  "{\"dataset_id\": $ds_id, \"concept_model_id\": $concept_id, \"corpus_id\": $corpus_id}")
extraction_id=$(jq -r .extraction_id <<<"$started")
follow "$started" >/dev/null
extraction=$(api GET "/api/v1/extractions/$extraction_id")
log "extraction $extraction_id: $(jq -r '"\(.n_images) images x \(.d) concepts, \(.n_failed) unreadable"' <<<"$extraction")"

# 6. The project: the four parts under one name (what the web page opens).
project=$(post_json /api/v1/projects "$(jq -n --arg n "$NAME" --argjson d "$ds_id" --argjson t "$teacher_id" \
  --argjson c "$concept_id" --argjson k "$corpus_id" \
  '{name: $n, dataset_id: $d, teacher_model_id: $t, concept_model_id: $c, corpus_id: $k}')")
project_id=$(jq -r .id <<<"$project")
log "project $project_id: ready $(jq -r .ready <<<"$project")"

# 7. Distil the student (a job); version 1 is the distillation.
started=$(post_json /api/v1/students \
  "{\"extraction_id\": $extraction_id, \"teacher_output_id\": $outputs_id, \"name\": \"$NAME-student\"}")
job=$(follow "$started")
student_id=$(jq -r .result.student_id <<<"$job")
log "student $student_id: fidelity $(jq -c .result.fidelity <<<"$job")"

# 8. One tune: remove the concept with the largest influence on the first class.
influence=$(api GET "/api/v1/students/$student_id/versions/1/classes/0/influence?limit=1")
class=$(jq -r .class <<<"$influence")
concept=$(jq -r '.items[0].concept' <<<"$influence")
tuned=$(post_json "/api/v1/students/$student_id/versions" "$(jq -n --arg c "$concept" --arg k "$class" \
  '{parent: 1, actions: [{action: "remove", concept: $c, class: $k}], note: "pipeline.sh: remove the top concept"}')")
version=$(jq -r .number <<<"$tuned")
log "version $version: removed '$concept' from '$class'; fidelity $(jq -c '.measures.splits | map_values(.fidelity)' <<<"$tuned")"

# 9. Export the tuned version: JSON (weights, names, measures) and TorchScript.
json_file=$OUT/student-$student_id-v$version.json
pt_file=$OUT/student-$student_id-v$version.pt
api GET "/api/v1/students/$student_id/versions/$version/export" >"$json_file"
status=$(curl -sS -o "$pt_file" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "$BASE/api/v1/students/$student_id/versions/$version/export.pt") || die "export.pt: the request failed"
if [[ $status != 200 ]]; then
  msg=$(jq -r '.error.message // empty' "$pt_file" 2>/dev/null || true)
  rm -f "$pt_file"
  die "GET .../export.pt: HTTP $status: $msg"
fi
log "exported $json_file and $pt_file"

jq -n --argjson dataset "$ds_id" --argjson teacher "$teacher_id" --argjson concept_model "$concept_id" \
  --argjson teacher_output "$outputs_id" --argjson corpus "$corpus_id" --argjson extraction "$extraction_id" \
  --argjson project "$project_id" --argjson student "$student_id" --argjson version "$version" \
  --arg json "$json_file" --arg torchscript "$pt_file" \
  '{dataset: $dataset, teacher: $teacher, concept_model: $concept_model, teacher_output: $teacher_output,
    corpus: $corpus, extraction: $extraction, project: $project, student: $student, version: $version,
    export: {json: $json, torchscript: $torchscript}}'
