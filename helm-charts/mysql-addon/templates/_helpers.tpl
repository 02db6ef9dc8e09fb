{{/* Labels on every object, so `kubectl get tasks,functions -l app.kubernetes.io/instance=<release>` finds them. */}}
{{- define "mysql-addon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hoard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mysql-addon.addonImage" -}}
{{ printf "%s:%s" .Values.image.addon.repository .Values.image.addon.tag }}
{{- end -}}

{{- define "mysql-addon.operatorImage" -}}
{{ printf "%s:%s" .Values.image.operator.repository .Values.image.operator.tag }}
{{- end -}}

{{/* Repository and connection flags shared by backup-mysql and restore-mysql (Stash's implicit variables). */}}
{{- define "mysql-addon.commonArgs" -}}
- "--provider=${REPOSITORY_PROVIDER:=}"
- "--bucket=${REPOSITORY_BUCKET:=}"
- "--endpoint=${REPOSITORY_ENDPOINT:=}"
- "--region=${REPOSITORY_REGION:=}"
- "--path=${REPOSITORY_PREFIX:=}"
- "--secret-dir=/etc/repository/secret"
- "--scratch-dir=/tmp"
- "--enable-cache=${ENABLE_CACHE:=true}"
- "--max-connections=${MAX_CONNECTIONS:=0}"
- "--hostname=${HOSTNAME:=}"
- "--storage-timeout=${storageTimeout:=300}"
{{- end -}}

{{/* The storage Secret, mounted from the Task's volume named by the step param secretVolume. */}}
{{- define "mysql-addon.secretMount" -}}
volumeMounts:
  - name: ${secretVolume}
    mountPath: /etc/repository/secret
{{- end -}}

{{/*
The name families, as a YAML list of {name, versions}: mysql-<op>-<v> for .Values.versions and
mariadb-<op>-<v> for .Values.mariadb.versions (Stash's MariaDB addon names; an empty list installs
none of them).
*/}}
{{- define "mysql-addon.families" -}}
- name: mysql
  versions: {{ .Values.versions | toJson }}
- name: mariadb
  versions: {{ ((.Values.mariadb).versions | default list) | toJson }}
{{- end -}}
