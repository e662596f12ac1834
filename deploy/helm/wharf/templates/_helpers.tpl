{{/* names and labels */}}
{{- define "wharf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wharf.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wharf.labels" -}}
{{ include "wharf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
wharf.dev/mode: {{ .Values.mode }}
{{- end -}}

{{- define "wharf.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "wharf.secretName" -}}
{{ include "wharf.fullname" . }}
{{- end -}}

{{- define "wharf.checkMode" -}}
{{- if not (has .Values.mode (list "embedded" "scaleout")) -}}
{{- fail (printf "mode must be embedded or scaleout, got %s" .Values.mode) -}}
{{- end -}}
{{- if eq .Values.mode "scaleout" -}}
{{- if and (not .Values.scaleout.database.url) (not .Values.scaleout.database.existingSecret) -}}
{{- fail "scaleout mode needs scaleout.database.url or scaleout.database.existingSecret (PostgreSQL)" -}}
{{- end -}}
{{- if not .Values.scaleout.s3.url -}}
{{- fail "scaleout mode needs scaleout.s3.url (WHARF_STORAGE=s3://bucket[/prefix])" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* the WHARF_* environment shared by the pods and the migration Job */}}
{{- define "wharf.env" -}}
- name: WHARF_ADDR
  value: "0.0.0.0:5000"
- name: WHARF_DATA_DIR
  value: /data
- name: WHARF_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.externalUrl }}
- name: WHARF_EXTERNAL_URL
  value: {{ . | quote }}
{{- end }}
{{- if or .Values.admin.password .Values.admin.existingSecret }}
- name: WHARF_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.admin.existingSecret | default (include "wharf.secretName" .) }}
      key: admin-password
{{- end }}
{{- if eq .Values.mode "scaleout" }}
- name: WHARF_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scaleout.database.existingSecret | default (include "wharf.secretName" .) }}
      key: database-url
- name: WHARF_AUTO_MIGRATE
  value: "false"
{{- if or .Values.scaleout.redis.url .Values.scaleout.redis.existingSecret }}
- name: WHARF_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scaleout.redis.existingSecret | default (include "wharf.secretName" .) }}
      key: redis-url
{{- end }}
- name: WHARF_STORAGE
  value: {{ .Values.scaleout.s3.url | quote }}
{{- with .Values.scaleout.s3.endpoint }}
- name: WHARF_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.scaleout.s3.region }}
- name: WHARF_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- if or .Values.scaleout.s3.accessKeyId .Values.scaleout.s3.existingSecret }}
- name: WHARF_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scaleout.s3.existingSecret | default (include "wharf.secretName" .) }}
      key: access-key-id
- name: WHARF_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scaleout.s3.existingSecret | default (include "wharf.secretName" .) }}
      key: secret-access-key
{{- end }}
{{- end }}
{{- range $k, $v := .Values.extraEnv }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "wharf.container" -}}
- name: wharf
  image: {{ include "wharf.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve"]
  env:
    {{- include "wharf.env" . | nindent 4 }}
  ports:
    - name: http
      containerPort: 5000
  livenessProbe:
    httpGet:
      path: /health
      port: http
    initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /health
      port: http
    initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: /data
{{- end -}}

{{- define "wharf.podExtras" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
