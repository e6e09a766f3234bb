import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/token.guard';
import { ServerService } from './server.service';

@ApiTags('server')
@Controller('api')
export class ServerController {
  constructor(private readonly server: ServerService) {}

  @Get('health')
  @Public()
  @ApiOperation({ summary: 'Liveness; the only route without a token' })
  health() {
    return this.server.health();
  }

  @Get('health/ready')
  @Public()
  @ApiOperation({
    summary: 'Readiness: answers 200 once the database answers a query, 503 when it does not (for load balancers and orchestrators); no token, like health',
  })
  ready() {
    return this.server.ready();
  }

  @Get('status')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Counts for the five states and the live workers' })
  status() {
    return this.server.status();
  }

  @Post('reset')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Back up the database file, then empty the queue (settings stay)' })
  reset() {
    return this.server.reset();
  }

  @Post('shutdown')
  @HttpCode(202)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Stop the service gracefully' })
  shutdown() {
    return this.server.shutdown();
  }
}
